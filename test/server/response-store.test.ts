import { describe, expect, it } from 'vitest';
import type { ConversationTurn } from '../../src/chain/prompt.js';
import { ResponseStore } from '../../src/server/response-store.js';

const turns = (text: string): ConversationTurn[] => [
  { role: 'user', content: text },
  { role: 'assistant', content: text },
];

describe('ResponseStore', () => {
  it('keeps at most maxResponses, dropping the least recently used', () => {
    const store = new ResponseStore(2, 1000);
    store.put('a', turns('a'));
    store.put('b', turns('b'));
    expect(store.get('a')).toEqual(turns('a')); // a is now the most recently used
    store.put('c', turns('c'));
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')).toEqual(turns('a'));
    expect(store.get('c')).toEqual(turns('c'));
    expect(store.size).toBe(2);
  });

  it('keeps at most maxChars of conversation in all, and never one larger than that', () => {
    const store = new ResponseStore(100, 10);
    store.put('a', turns('xx')); // 4 characters
    store.put('b', turns('yy')); // 8 in all
    store.put('c', turns('zz')); // 12: a goes
    expect(store.get('a')).toBeUndefined();
    expect(store.size).toBe(2);
    store.put('big', turns('x'.repeat(6))); // 12 on its own: not kept, nothing else lost
    expect(store.get('big')).toBeUndefined();
    expect(store.size).toBe(2);
    // Replacing an id counts its new size only.
    store.put('b', turns('y'));
    store.put('d', turns('ww'));
    expect([store.get('b'), store.get('c'), store.get('d')].every((c) => c !== undefined)).toBe(true);
  });

  it('keeps the response JSON with its conversation, counts both in the budget, and forgets a deleted one', () => {
    const store = new ResponseStore(100, 20);
    store.put('a', turns('xx'), '{"id":"a"}'); // 4 + 10 characters
    expect(store.response('a')).toBe('{"id":"a"}');
    store.put('b', turns('yy'), '{}'); // 14 + 6 = 20: both fit
    expect(store.size).toBe(2);
    store.put('c', turns('z')); // 22: a, the least recently used, goes
    expect(store.response('a')).toBeUndefined();
    expect(store.delete('b')).toBe(true);
    expect(store.delete('b')).toBe(false);
    expect(store.get('b')).toBeUndefined();
    expect(store.get('c')).toEqual(turns('z'));
    expect(store.response('c')).toBeUndefined(); // kept without a response object
  });

  it('keeps nothing with maxResponses 0', () => {
    const store = new ResponseStore(0);
    store.put('a', turns('a'));
    expect(store.get('a')).toBeUndefined();
  });
});
