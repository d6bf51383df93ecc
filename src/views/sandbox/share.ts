/**
 * Share links: a scenario in the URL fragment, `#s=<format version>.<payload>`, where the payload
 * is the scenario's JSON (UTF-8), deflated (raw DEFLATE, RFC 1951) and base64url-encoded (RFC 4648
 * §5, no padding). The fragment never reaches a server: the link is the whole sandbox state.
 *
 * Decoding trusts nothing: the payload's length is capped before anything else, the inflated size
 * is capped while inflating (a small link that inflates to gigabytes stops within a slice of its
 * cap), and the text must be UTF-8, then JSON, then a valid scenario (`loadScenario`, which also
 * migrates older scenario versions). Every failure is a `ShareFailure` for the page to put into
 * words; nothing here throws. The format version is dispatched on, so that a later format can be
 * added beside this one while links made today keep decoding (tests/fixtures/share-links-v1.json).
 *
 * Pure: no DOM; CompressionStream/DecompressionStream ('deflate-raw'), TextEncoder/TextDecoder,
 * btoa/atob exist in browsers and in Node 20.
 */
import { loadScenario } from '../../emu/scenario/migrate.ts';
import type { ScenarioError } from '../../emu/scenario/schema.ts';
import type { Json } from '../../worker/protocol.ts';
import { scanJson, type JsonIssue, type TextPos } from './json-pos.ts';
import { SHARE_PREFIX } from './start.ts';

export { SHARE_PREFIX };

/** The format this code writes. */
export const SHARE_VERSION = 1;
/** The longest payload accepted (base64url characters): about 190 KB of compressed scenario. */
export const MAX_PAYLOAD_CHARS = 256 * 1024;
/** The most JSON a link may inflate to (a scenario's programs are at most 200,000 characters each). */
export const MAX_JSON_BYTES = 1024 * 1024;
/** Inflate input is fed in slices this big, so that the size cap stops a bomb early. */
const INFLATE_SLICE = 256;

export type ShareFailure =
  | { kind: 'malformed' }
  | { kind: 'too-long'; length: number; max: number }
  | { kind: 'newer'; version: number }
  | { kind: 'base64' }
  | { kind: 'deflate' }
  | { kind: 'too-big'; max: number }
  | { kind: 'text' }
  | { kind: 'json'; at: TextPos; issue: JsonIssue | 'root' }
  | { kind: 'invalid'; errors: ScenarioError[] };

export type ShareDecode = { ok: true; version: number; scenario: Json } | { ok: false; failure: ShareFailure };

export type ShareEncode = { ok: true; fragment: string } | { ok: false; failure: Extract<ShareFailure, { kind: 'too-long' }> };

/** Whether a URL fragment is a share link (well formed or not): what makes the lab open one. */
export function isShareFragment(hash: string): boolean {
  return hash.startsWith(SHARE_PREFIX);
}

// --- base64url -------------------------------------------------------------------------------

export function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** null for anything but unpadded base64url (a lone trailing character is not a byte). */
export function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    return null;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// --- DEFLATE ---------------------------------------------------------------------------------

async function drain(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = readable.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

export async function deflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  const cs = new CompressionStream('deflate-raw');
  const writer = cs.writable.getWriter();
  void writer.write(bytes as Uint8Array<ArrayBuffer>).catch(() => undefined);
  void writer.close().catch(() => undefined);
  return drain(cs.readable);
}

export type Inflated =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; kind: 'deflate' }
  /** `inflated`: the output read before reading stopped (just past `max`, however big the bomb). */
  | { ok: false; kind: 'too-big'; inflated: number };

/**
 * Inflates raw DEFLATE data, refusing more than `max` bytes of output: the output is read as it
 * is produced and the stream cancelled once it passes `max`. Inflaters produce output only as it
 * is read (stream backpressure), and the input goes in small slices, so a bomb costs about `max`.
 */
export async function inflateRawCapped(bytes: Uint8Array, max: number): Promise<Inflated> {
  let consumed = 0;
  const source = new ReadableStream<Uint8Array>(
    {
      pull(ctl) {
        if (consumed >= bytes.length) return ctl.close();
        const end = Math.min(bytes.length, consumed + INFLATE_SLICE);
        ctl.enqueue(bytes.slice(consumed, end));
        consumed = end;
      },
    },
    { highWaterMark: 0 },
  );
  let out: ReadableStream<Uint8Array>;
  try {
    out = source.pipeThrough(new DecompressionStream('deflate-raw') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  } catch {
    return { ok: false, kind: 'deflate' };
  }
  const reader = out.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > max) {
        await reader.cancel().catch(() => undefined);
        return { ok: false, kind: 'too-big', inflated: n };
      }
      parts.push(value);
    }
  } catch {
    return { ok: false, kind: 'deflate' };
  }
  const joined = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { ok: true, bytes: joined };
}

// --- the link --------------------------------------------------------------------------------

/** `#s=1.<payload>` for a scenario (any JSON value; the page shares only scenarios that validate). */
export async function encodeShare(scenario: Json): Promise<ShareEncode> {
  const json = new TextEncoder().encode(JSON.stringify(scenario));
  const payload = toBase64Url(await deflateRaw(json));
  if (payload.length > MAX_PAYLOAD_CHARS) return { ok: false, failure: { kind: 'too-long', length: payload.length, max: MAX_PAYLOAD_CHARS } };
  return { ok: true, fragment: `${SHARE_PREFIX}${SHARE_VERSION}.${payload}` };
}

/** The page's address with the share fragment in place of its own. */
export function shareUrl(href: string, fragment: string): string {
  const url = new URL(href);
  url.hash = fragment.startsWith('#') ? fragment.slice(1) : fragment;
  return url.toString();
}

/** Format 1: base64url → raw DEFLATE → UTF-8 → JSON → a valid scenario. */
async function decodeV1(payload: string): Promise<ShareDecode> {
  const packed = fromBase64Url(payload);
  if (packed === null) return { ok: false, failure: { kind: 'base64' } };
  const inflated = await inflateRawCapped(packed, MAX_JSON_BYTES);
  if (!inflated.ok) return { ok: false, failure: inflated.kind === 'too-big' ? { kind: 'too-big', max: MAX_JSON_BYTES } : { kind: 'deflate' } };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(inflated.bytes);
  } catch {
    return { ok: false, failure: { kind: 'text' } };
  }
  const scan = scanJson(text);
  if (!scan.ok) return { ok: false, failure: { kind: 'json', at: scan.at, issue: scan.issue } };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, failure: { kind: 'json', at: { line: 1, column: 1 }, issue: 'unexpected' } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, failure: { kind: 'json', at: { line: 1, column: 1 }, issue: 'root' } };
  }
  const loaded = loadScenario(value);
  if (!loaded.ok) return { ok: false, failure: { kind: 'invalid', errors: loaded.errors } };
  return { ok: true, version: 1, scenario: value as Json };
}

const DECODERS: Readonly<Record<number, (payload: string) => Promise<ShareDecode>>> = { 1: decodeV1 };

/** Decodes a URL fragment (`#s=1.…`); resolves with the scenario or why not, never rejects. */
export async function decodeShare(hash: string): Promise<ShareDecode> {
  try {
    if (!isShareFragment(hash)) return { ok: false, failure: { kind: 'malformed' } };
    const body = hash.slice(SHARE_PREFIX.length);
    const dot = body.indexOf('.');
    if (dot < 1 || dot > 6 || !/^[1-9]\d*$/.test(body.slice(0, dot))) return { ok: false, failure: { kind: 'malformed' } };
    const version = Number(body.slice(0, dot));
    const payload = body.slice(dot + 1);
    if (payload.length > MAX_PAYLOAD_CHARS) return { ok: false, failure: { kind: 'too-long', length: payload.length, max: MAX_PAYLOAD_CHARS } };
    const decoder = DECODERS[version];
    if (decoder === undefined) return { ok: false, failure: version > SHARE_VERSION ? { kind: 'newer', version } : { kind: 'malformed' } };
    return await decoder(payload);
  } catch {
    // Nothing above should throw; should an engine's stream do it anyway, the link is unreadable.
    return { ok: false, failure: { kind: 'malformed' } };
  }
}
