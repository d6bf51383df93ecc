import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../emu/scenario/migrate.ts';
import type { Json } from '../../worker/protocol.ts';
import {
  decodeShare, deflateRaw, encodeShare, fromBase64Url, inflateRawCapped, isShareFragment, MAX_JSON_BYTES, MAX_PAYLOAD_CHARS,
  SHARE_VERSION, shareUrl, toBase64Url, type ShareFailure,
} from './share.ts';

const EXAMPLES = join(import.meta.dirname, '../../emu/scenario/examples');
const example = (name: string): Record<string, Json> => JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), 'utf8')) as Record<string, Json>;

/** A share fragment for arbitrary bytes, as a damaged or hostile link would carry them. */
const fragmentOf = (bytes: Uint8Array): string => `#s=1.${toBase64Url(bytes)}`;
const deflatedText = async (text: string): Promise<string> => fragmentOf(await deflateRaw(new TextEncoder().encode(text)));

async function failure(hash: string): Promise<ShareFailure> {
  const r = await decodeShare(hash);
  if (r.ok) throw new Error(`decoded ${hash.slice(0, 40)}`);
  return r.failure;
}

const KINDS = new Set(['malformed', 'too-long', 'newer', 'base64', 'deflate', 'too-big', 'text', 'json', 'invalid']);

describe('share links', () => {
  it('round-trip each example scenario exactly', async () => {
    for (const name of ['syscalls', 'page-fault', 'timer']) {
      const s = example(name);
      const e = await encodeShare(s);
      if (!e.ok) throw new Error('too long');
      expect(e.fragment).toMatch(/^#s=1\.[A-Za-z0-9_-]+$/);
      expect(await decodeShare(e.fragment)).toEqual({ ok: true, version: SHARE_VERSION, scenario: s });
    }
  });

  it('are much shorter than the JSON they carry', async () => {
    const s = example('syscalls');
    const e = await encodeShare(s);
    if (!e.ok) throw new Error('too long');
    expect(e.fragment.length).toBeLessThan(JSON.stringify(s).length * 0.7);
  });

  it('round-trip random valid scenarios: any name, description and comment text (markup, CJK, emoji, quotes)', async () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('<', '>', '"', "'", '&', '\\', '/', '\u2028', '中', '文', '😀', '\u0000'), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })), maxLength: 80 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('syscalls', 'page-fault', 'timer'),
        text.filter((n) => n.length > 0 && n.length <= 100),
        fc.option(text, { nil: undefined }),
        fc.array(text.map((t) => t.replace(/[\r\n\u2028\u2029]/g, ' ')), { maxLength: 4 }),
        fc.constantFrom('intel', 'amd'),
        fc.integer({ min: 1024, max: 262144 }).map((pages) => pages * 4096),
        async (base, name, description, comments, vendor, memory) => {
          const s = example(base);
          s.name = name;
          if (description === undefined) delete s.description;
          else s.description = description;
          s.cpu = { vendor };
          s.memory = { size: memory };
          const kernel = s.kernel as Record<string, Json>;
          s.kernel = { ...kernel, source: comments.map((c) => `; ${c}\n`).join('') + String(kernel.source) };
          expect(loadScenario(s).ok).toBe(true);
          const e = await encodeShare(s);
          if (!e.ok) throw new Error('too long');
          expect(await decodeShare(e.fragment)).toEqual({ ok: true, version: 1, scenario: s });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('never throw on random fragments, random payloads or damaged links: each gives a known failure', async () => {
    const good = await encodeShare(example('timer'));
    if (!good.ok) throw new Error('too long');
    const payload = good.fragment.slice('#s=1.'.length);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }).map((s) => `#s=${s}`),
          fc.string({ maxLength: 200 }).map((s) => `#s=1.${s}`),
          fc.uint8Array({ maxLength: 300 }).map(fragmentOf),
          fc.tuple(fc.nat(), fc.constantFrom(...'AZaz09-_'.split(''))).map(([i, c]) => {
            const at = i % payload.length;
            return `#s=1.${payload.slice(0, at)}${c}${payload.slice(at + 1)}`;
          }),
          fc.nat().map((i) => `#s=1.${payload.slice(0, i % payload.length)}`),
        ),
        async (hash) => {
          const r = await decodeShare(hash);
          if (!r.ok) expect(KINDS.has(r.failure.kind)).toBe(true);
          else expect(loadScenario(r.scenario).ok).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('dispatch on the format version: a newer one says so, a missing or zero one is malformed', async () => {
    expect(await failure('#s=2.AAAA')).toEqual({ kind: 'newer', version: 2 });
    expect(await failure('#s=17.anything')).toEqual({ kind: 'newer', version: 17 });
    for (const h of ['#s=', '#s=1', '#s=.abc', '#s=0.abc', '#s=01.abc', '#s=x.abc', '#s=1234567.abc', '#x=1.abc', '']) {
      expect(await failure(h)).toEqual({ kind: 'malformed' });
    }
    expect(isShareFragment('#s=1.abc')).toBe(true);
    expect(isShareFragment('#sandbox')).toBe(false);
  });

  it('refuse a payload over the length cap before decoding it', async () => {
    expect(await failure(`#s=1.${'A'.repeat(MAX_PAYLOAD_CHARS + 1)}`)).toEqual({ kind: 'too-long', length: MAX_PAYLOAD_CHARS + 1, max: MAX_PAYLOAD_CHARS });
    // The cap applies to newer formats too: nothing that long is looked at.
    expect((await failure(`#s=9.${'A'.repeat(MAX_PAYLOAD_CHARS + 1)}`)).kind).toBe('too-long');
  });

  it('stop inflating a zip bomb at the size cap', async () => {
    const bomb = await deflateRaw(new Uint8Array(100 * 1024 * 1024).fill(0x20));
    expect(toBase64Url(bomb).length).toBeLessThan(MAX_PAYLOAD_CHARS);
    expect(await failure(fragmentOf(bomb))).toEqual({ kind: 'too-big', max: MAX_JSON_BYTES });
    const r = await inflateRawCapped(bomb, 100_000);
    expect(r.ok).toBe(false);
    if (!r.ok && r.kind === 'too-big') expect(r.inflated).toBeLessThan(100_000 + 256 * 1024);
    else throw new Error('expected too-big');
  });

  it('name each kind of damage', async () => {
    expect(await failure('#s=1.a')).toEqual({ kind: 'base64' });
    expect(await failure('#s=1.ab+c')).toEqual({ kind: 'base64' });
    expect(await failure('#s=1.ab=c')).toEqual({ kind: 'base64' });
    expect(await failure(fragmentOf(new Uint8Array([0xff, 0xfe, 0xfd, 0xfc])))).toEqual({ kind: 'deflate' });
    const cut = await deflateRaw(new TextEncoder().encode(JSON.stringify(example('syscalls'))));
    expect(await failure(fragmentOf(cut.slice(0, cut.length >> 1)))).toEqual({ kind: 'deflate' });
    expect(await failure(fragmentOf(await deflateRaw(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]))))).toEqual({ kind: 'text' });
    expect(await failure(await deflatedText('{\n  "name": "x",\n  oops\n}'))).toEqual({ kind: 'json', at: { line: 3, column: 3 }, issue: 'unexpected' });
    expect(await failure(await deflatedText('[1, 2]'))).toEqual({ kind: 'json', at: { line: 1, column: 1 }, issue: 'root' });
    expect(await failure(await deflatedText(''))).toMatchObject({ kind: 'json', issue: 'end' });
  });

  it('validate the scenario a link carries, with every error located', async () => {
    const s = example('syscalls');
    s.memory = { size: 5000 };
    s.user = { source: 'user_entry:\n  jmp nowhere\n' };
    const f = await failure(await deflatedText(JSON.stringify(s)));
    expect(f.kind).toBe('invalid');
    if (f.kind !== 'invalid') return;
    expect(f.errors).toContainEqual({ path: 'memory.size', message: 'expected a multiple of 4096, got 5000' });
    expect(f.errors).toContainEqual({ path: 'user.source', line: 2, column: 7, message: "undefined label 'nowhere'" });
    // A fragment full of markup is data: it fails as data, whatever it says.
    expect((await failure(await deflatedText('"<img src=x onerror=alert(1)>"'))).kind).toBe('json');
    expect((await failure(await deflatedText('{"version":1,"name":"<script>alert(1)</script>"}'))).kind).toBe('invalid');
  });

  it('carry markup in names and sources as plain strings', async () => {
    const s = example('page-fault');
    s.name = '<img src=x onerror=alert(1)>';
    s.description = '<script>alert(document.cookie)</script>';
    const e = await encodeShare(s);
    if (!e.ok) throw new Error('too long');
    const r = await decodeShare(e.fragment);
    expect(r).toEqual({ ok: true, version: 1, scenario: s });
  });

  it('refuse to encode a scenario whose link would pass the cap', async () => {
    // Incompressible text (xorshift32): 400,000 characters of about 6.5 bits each.
    let x = 12345;
    let junk = '';
    for (let i = 0; i < 400_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      junk += String.fromCharCode(33 + ((x >>> 0) % 90));
    }
    const e = await encodeShare({ version: 1, name: 'big', kernel: { source: junk } });
    expect(e).toMatchObject({ ok: false, failure: { kind: 'too-long', max: MAX_PAYLOAD_CHARS } });
  });

  it('base64url: unpadded, URL-safe, and strict', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const t = toBase64Url(all);
    expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(fromBase64Url(t)).toEqual(all);
    for (let n = 0; n < 6; n++) expect(fromBase64Url(toBase64Url(all.subarray(0, n)))).toEqual(all.subarray(0, n));
    expect(fromBase64Url('abc=')).toBeNull();
    expect(fromBase64Url('abcde')).toBeNull();
    expect(fromBase64Url('ab cd')).toBeNull();
  });

  it('put the fragment on the page address, replacing any other', () => {
    expect(shareUrl('http://h.test/lab/?lang=en#sandbox', '#s=1.abc')).toBe('http://h.test/lab/?lang=en#s=1.abc');
    expect(shareUrl('http://h.test/', '#s=1.abc')).toBe('http://h.test/#s=1.abc');
  });
});

describe('share links made by format 1 (tests/fixtures/share-links-v1.json)', () => {
  const fixtures = JSON.parse(readFileSync(join(import.meta.dirname, '../../../tests/fixtures/share-links-v1.json'), 'utf8')) as {
    format: number;
    links: { name: string; url: string; scenario: Json }[];
  };

  it('has links to check', () => {
    expect(fixtures.format).toBe(1);
    expect(fixtures.links.length).toBeGreaterThanOrEqual(5);
  });

  for (const [i, l] of fixtures.links.entries()) {
    it(`still opens link ${i}: ${l.name}`, async () => {
      const hash = new URL(l.url, 'http://lab.test').hash;
      expect(await decodeShare(hash)).toEqual({ ok: true, version: 1, scenario: l.scenario });
    });
  }
});
