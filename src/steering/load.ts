/**
 * Reading steering policies and action profiles from JSON files: the only I/O of the steering layer.
 * Every error names the file, and the field when the JSON is readable but wrong.
 */
import { access } from 'node:fs/promises';
import { jsonDuplicateKey, jsonErrorOffset, lineAndColumn } from '../io/json-scan.js';
import { readFailureReason } from '../io/read-failure.js';
import { readUtf8File } from '../io/utf8.js';
import { SteeringError } from './errors.js';
import { parsePolicy, type SteeringPolicy } from './policy.js';
import { isPresetName, PRESET_NAMES, PRESETS } from './presets.js';
import { type ProfileInput, parseProfile } from './profile.js';

/** Policies and profiles are a few hundred bytes; a larger file is not one (and is not read whole). */
export const MAX_STEERING_FILE_BYTES = 1024 * 1024;

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readUtf8File(file, MAX_STEERING_FILE_BYTES);
  } catch (e) {
    throw new SteeringError('file', [{ path: '', message: readFailureReason(e) }], file);
  }
  // Editors on Windows save UTF-8 with a byte order mark; it is not part of the JSON (RFC 8259 §8.1).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // Node 20 reports an offset at most, and none for an unexpected token (a NaN): a line and column are
    // what an editor needs.
    const offset = jsonErrorOffset(text);
    let where = '';
    if (offset !== undefined && !/line \d+/.test(message)) {
      const { line, column } = lineAndColumn(text, offset);
      where = ` (line ${line}, column ${column})`;
    }
    throw new SteeringError('file', [{ path: '', message: `not valid JSON: ${message}${where}` }], file);
  }
  // JSON.parse keeps a repeated field's last value: "billing" written twice would steer by one of them.
  const duplicate = jsonDuplicateKey(text);
  if (duplicate !== undefined) {
    const { line, column } = lineAndColumn(text, duplicate.offset);
    throw new SteeringError(
      'file',
      [
        {
          path: '',
          message: `${JSON.stringify(duplicate.key)} appears twice in one object (the second at line ${line}, column ${column}); remove the one you do not mean`,
        },
      ],
      file,
    );
  }
  return json;
}

function inFile<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof SteeringError) throw e.inFile(file);
    throw e;
  }
}

/** Reads a policy (pricing, fixed edit or none; see `parsePolicy`) from a JSON file. */
export async function loadPolicyFile(file: string): Promise<SteeringPolicy> {
  const json = await readJson(file);
  return inFile(file, () => parsePolicy(json));
}

/** Reads action-profile overrides (see `resolveProfile`) from a JSON file. */
export async function loadProfileFile(file: string): Promise<ProfileInput> {
  const json = await readJson(file);
  return inFile(file, () => parseProfile(json));
}

/** A preset name (`api`, `paper-api`, …) or the path of a JSON policy file, as a command-line flag gives it. */
export async function loadPolicy(ref: string): Promise<SteeringPolicy> {
  if (isPresetName(ref)) return PRESETS[ref];
  // A bare word that names no file is a preset name mistyped ("subscripton"), not a missing file.
  const looksLikeName = !/[/\\.]/.test(ref);
  if (looksLikeName) {
    const missing = await access(ref).then(
      () => false,
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
    if (missing)
      throw new SteeringError('preset', [
        {
          path: '',
          message: `${JSON.stringify(ref)} (and no file of that name); known presets: ${PRESET_NAMES.join(', ')}`,
        },
      ]);
  }
  return loadPolicyFile(ref);
}
