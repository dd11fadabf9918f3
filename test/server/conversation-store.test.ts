import { describe, expect, it } from 'vitest';
import { ConversationFullError, ConversationStore } from '../../src/server/conversation-store.js';

const say = (text: string) => ({ role: 'user' as const, text });

describe('ConversationStore', () => {
  it('keeps at most maxConversations, dropping the least recently used', () => {
    const store = new ConversationStore(2);
    const a = store.create([say('a')], {});
    const b = store.create([say('b')], {});
    expect(store.get(a.id)).toBe(a); // a is now the most recently used
    store.create([say('c')], {});
    expect(store.get(b.id)).toBeUndefined();
    expect(store.get(a.id)).toBe(a);
    expect(store.size).toBe(2);
  });

  it("refuses items past a conversation's bounds, and evicts others to stay within the characters", () => {
    const store = new ConversationStore(10, 10, 3);
    const a = store.create([say('12345')], {});
    expect(() => store.append(a, [say('1234567')])).toThrow(ConversationFullError);
    store.append(a, [say('1'), say('2')]);
    expect(() => store.append(a, [say('3')])).toThrow(/at most 3 items/);
    expect(a.items.map((i) => i.text)).toEqual(['12345', '1', '2']);
    // 7 characters kept; a new conversation of 5 pushes the total to 12: the older one goes.
    const b = store.create([say('abcde')], {});
    expect(store.get(a.id)).toBeUndefined();
    expect(store.get(b.id)).toBe(b);
    expect(store.removeItem(b, b.items[0]!.id)).toBe(true);
    expect(store.removeItem(b, 'msg_none')).toBe(false);
    expect(b.items).toEqual([]);
  });
});
