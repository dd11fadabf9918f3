/**
 * The addresses other machines reach a server at when it listens on every interface (`--host 0.0.0.0` or
 * `::`): the URL it listens at names no machine, and a page opened there makes links (a study's rater
 * links) that name none either.
 */
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

const WILDCARD_V4 = '0.0.0.0';
const WILDCARD_V6 = new Set(['::', '::0']);

/** `http://ADDRESS:PORT` for each non-loopback address a wildcard `host` covers; [] for any other host. */
export function networkUrls(
  host: string,
  port: number,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const v6 = WILDCARD_V6.has(host);
  if (host !== WILDCARD_V4 && !v6) return [];
  const urls: string[] = [];
  for (const info of Object.values(interfaces).flat()) {
    if (info === undefined || info.internal) continue;
    if (info.family === 'IPv4') urls.push(`http://${info.address}:${port}`);
    // A link-local IPv6 address needs its interface named, which a link cannot carry to another machine.
    else if (v6 && !info.address.toLowerCase().startsWith('fe80:'))
      urls.push(`http://[${info.address}]:${port}`);
  }
  return urls;
}
