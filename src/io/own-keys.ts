/**
 * Copies of parsed JSON objects that keep every key. `JSON.parse` gives a key named "__proto__" as an
 * ordinary own property, but an assignment `out[key] = v` with that key replaces the object's prototype
 * instead, so the pair is lost (zod's record and object copies assign). These define the property.
 */

/** Sets an own, enumerable property, whatever its name. */
export function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A shallow copy of `value`'s own enumerable string keys, "__proto__" included. */
export function ownCopy<T>(value: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(value)) setOwn(out, key, value[key]);
  return out;
}
