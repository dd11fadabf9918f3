/**
 * Where conversation objects live: this process's memory (ConversationStore) or a folder shared by
 * processes (ConversationFolder). Both keep the same contract; the folder's conversations also outlive
 * the process, take concurrent changes from several processes, and survive a line cut short by a crash.
 */
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConversationFolder } from '../../src/server/conversation-folder.js';
import {
  ConversationFullError,
  ConversationStore,
  type Conversations,
} from '../../src/server/conversation-store.js';
import { faultyFs } from '../support/faulty-fs.js';

const say = (text: string) => ({ role: 'user' as const, text });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-conversations-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const kinds: Array<[string, (bounds: { maxItems: number; maxChars: number }) => Promise<Conversations>]> = [
  ['memory', async (b) => new ConversationStore(10, b.maxChars, b.maxItems)],
  ['a folder', (b) => ConversationFolder.open(dir, b)],
];

describe.each(kinds)('conversations in %s', (_, make) => {
  it('creates, reads, adds, removes, replaces metadata and deletes', async () => {
    const store = await make({ maxItems: 100, maxChars: 1000 });
    const c = await store.create([say('hello')], { topic: 'a' });
    const added = await store.append(c, [
      { role: 'assistant', text: 'hi' },
      { id: 'msg_given', role: 'user', text: 'x' },
    ]);
    expect(added.map((i) => i.id)).toEqual([expect.stringMatching(/^msg_[0-9a-f]{32}$/), 'msg_given']);
    expect(await store.removeItem(c, 'msg_given')).toBe(true);
    expect(await store.removeItem(c, 'msg_none')).toBe(false);
    await store.setMetadata(c, { topic: 'b' });
    const again = (await store.get(c.id))!;
    expect(again.items.map((i) => ['role' in i ? i.role : i.type, i.text])).toEqual([
      ['user', 'hello'],
      ['assistant', 'hi'],
    ]);
    expect(again.metadata).toEqual({ topic: 'b' });
    expect(again.chars).toBe(7);
    expect(await store.delete(c.id)).toBe(true);
    expect(await store.get(c.id)).toBeUndefined();
    expect(await store.delete(c.id)).toBe(false);
  });

  it('keeps a reasoning item in its place, counted in the characters, as read back later', async () => {
    const store = await make({ maxItems: 100, maxChars: 1000 });
    const c = await store.create([say('hello')], {});
    const added = await store.append(c, [
      { type: 'reasoning', text: 'thought' },
      { id: 'rs_given', type: 'reasoning', text: 'more' },
      { role: 'assistant', text: 'hi' },
    ]);
    expect(added.map((i) => i.id)).toEqual([
      expect.stringMatching(/^rs_[0-9a-f]{32}$/),
      'rs_given',
      expect.stringMatching(/^msg_/),
    ]);
    expect(await store.removeItem(c, 'rs_given')).toBe(true);
    // For a folder, a fresh read of its file (another process).
    const again = (await (store instanceof ConversationFolder
      ? await ConversationFolder.open(dir)
      : store
    ).get(c.id))!;
    expect(again.items.map((i) => ['role' in i ? i.role : i.type, i.text])).toEqual([
      ['user', 'hello'],
      ['reasoning', 'thought'],
      ['assistant', 'hi'],
    ]);
    expect(again.chars).toBe(14);
  });

  it("refuses items past a conversation's bounds, naming them, and keeps what it had", async () => {
    const store = await make({ maxItems: 3, maxChars: 10 });
    const c = await store.create([say('12345')], {});
    await expect(store.append(c, [say('1234567')])).rejects.toThrow(ConversationFullError);
    await store.append(c, [say('1'), say('2')]);
    await expect(store.append(c, [say('3')])).rejects.toThrow(/at most 3 items/);
    expect((await store.get(c.id))!.items.map((i) => i.text)).toEqual(['12345', '1', '2']);
  });
});

describe('ConversationStore', () => {
  it('keeps at most maxConversations in memory, dropping the least recently used', async () => {
    const store = new ConversationStore(2);
    const a = await store.create([say('a')], {});
    const b = await store.create([say('b')], {});
    expect(await store.get(a.id)).toBe(a); // a is now the most recently used
    await store.create([say('c')], {});
    expect(await store.get(b.id)).toBeUndefined();
    expect(store.size).toBe(2);
  });
});

describe('ConversationFolder', () => {
  it('outlives the process, and two processes add to one conversation without losing a change', async () => {
    const one = await ConversationFolder.open(dir);
    const c = await one.create([say('first')], { k: 'v' });
    const two = await ConversationFolder.open(dir); // another process
    const seenByTwo = (await two.get(c.id))!;
    // Both add at once, each from the copy it read.
    await Promise.all([one.append(c, [say('from one')]), two.append(seenByTwo, [say('from two')])]);
    const after = (await (await ConversationFolder.open(dir)).get(c.id))!;
    expect(after.items.map((i) => i.text).sort()).toEqual(['first', 'from one', 'from two']);
    expect(after.metadata).toEqual({ k: 'v' });
    // A deletion by one is seen by the other at once, and a late change does not bring it back.
    expect(await two.delete(c.id)).toBe(true);
    expect(await one.get(c.id)).toBeUndefined();
    await expect(one.append(c, [say('too late')])).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('skips a line cut short by a crash, and the next change starts on a line of its own', async () => {
    const lines: string[] = [];
    const folder = await ConversationFolder.open(dir, { log: (l) => lines.push(l) });
    const c = await folder.create([say('kept')], {});
    const file = join(dir, `${c.id}.jsonl`);
    await appendFile(file, '{"op":"add","items":[{"id":"msg_x","role":"user","te');
    const read = (await folder.get(c.id))!;
    expect(read.items.map((i) => i.text)).toEqual(['kept']);
    expect(lines).toEqual([expect.stringContaining('1 line(s) that are not a change were skipped')]);
    await folder.append(read, [say('after the crash')]);
    expect((await folder.get(c.id))!.items.map((i) => i.text)).toEqual(['kept', 'after the crash']);
    expect((await readFile(file, 'utf8')).split('\n').filter((l) => l !== '')).toHaveLength(3);
  });

  it('on a full disk, rejects the change and keeps the conversation as it was', async () => {
    const plain = await ConversationFolder.open(dir);
    const c = await plain.create([say('kept')], {});
    const size = (await readFile(join(dir, `${c.id}.jsonl`))).length;
    // The disk has room for part of the next line only.
    const full = await ConversationFolder.open(dir, { fs: faultyFs([{ on: 'bytes', limit: 20 }]) });
    await expect(full.append(c, [say('x'.repeat(100))])).rejects.toThrow(/ENOSPC/);
    expect((await readFile(join(dir, `${c.id}.jsonl`))).length).toBeGreaterThan(size); // part of a line
    expect((await plain.get(c.id))!.items.map((i) => i.text)).toEqual(['kept']);
    await plain.append((await plain.get(c.id))!, [say('later')]);
    expect((await plain.get(c.id))!.items.map((i) => i.text)).toEqual(['kept', 'later']);
  });

  it('keeps at most maxConversations files, the oldest going first, and maps only its own ids to files', async () => {
    const folder = await ConversationFolder.open(dir, { maxConversations: 2 });
    const a = await folder.create([say('a')], {});
    await folder.create([say('b')], {});
    await folder.create([say('c')], {});
    expect((await readdir(dir)).length).toBe(2);
    expect(await folder.get(a.id)).toBeUndefined();
    await writeFile(join(dir, 'secret.jsonl'), '{}');
    for (const id of ['../secret', 'conv_../../x', 'CONV_1', '']) {
      expect(await folder.get(id)).toBeUndefined();
      expect(await folder.delete(id)).toBe(false);
    }
  });
});

describe('a conversation file damaged by hand', () => {
  it('skips lines that are JSON but not a change, and reads the rest', async () => {
    const lines: string[] = [];
    const folder = await ConversationFolder.open(dir, { log: (l) => lines.push(l) });
    const c = await folder.create([say('kept')], { topic: 'a' });
    const damaged = [
      'null',
      '[1,2]',
      '"add"',
      '{"op":"add","items":null}',
      '{"op":"remove"}',
      '{"op":"metadata","metadata":null}',
      '{"op":"metadata","metadata":{"topic":7}}',
      `{"op":"create","id":"${c.id}","created_at":1,"metadata":{},"items":null}`,
      `{"op":"add","items":[${'null,'.repeat(200_000)}{"id":"msg_many","role":"user","text":"after many"}]}`,
    ];
    await appendFile(join(dir, `${c.id}.jsonl`), `${damaged.join('\n')}\n`);
    const read = (await folder.get(c.id))!;
    expect(read.items.map((i) => i.text)).toEqual(['kept', 'after many']);
    expect(read.metadata).toEqual({ topic: 'a' });
    expect(lines).toEqual([expect.stringContaining('8 line(s) that are not a change were skipped')]);
  });
});
