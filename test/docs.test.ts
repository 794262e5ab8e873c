/**
 * Keeps the protocol documents in step with the code: `docs/errors.md` lists every registry code with
 * the status or close code it causes, every close code and every resume failure reason with its metric;
 * `docs/PROTOCOL.md` has a section per frame type, a row per close code, and its examples are frames
 * the codec accepts (the binary one byte for byte as the encoder writes it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  CloseCode,
  decodeFrame,
  Errors,
  encodeData,
  type Frame,
  RESUME_FAILURE_REASONS,
} from '@zerodrop/protocol';

const readDoc = (name: string): string => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');
const errorsDoc = readDoc('errors.md');
const protocolDoc = readDoc('PROTOCOL.md');

/** Every frame type of the protocol. `Unlisted` stops the type check when frames.ts gains one. */
const FRAME_TYPES = [
  'hello',
  'welcome',
  'msg',
  'bin',
  'ack',
  'ping',
  'pong',
  'reconnect',
  'error',
] as const satisfies readonly Frame['t'][];
type Unlisted = Exclude<Frame['t'], (typeof FRAME_TYPES)[number]>;
const everyFrameTypeListed: [Unlisted] extends [never] ? true : never = true;

const closeCodes = Object.entries(CloseCode);

/** The Markdown table row whose first cell is `firstCell` (cells may be padded), or undefined. */
function tableRow(doc: string, firstCell: string): string | undefined {
  return doc.split('\n').find((line) => line.startsWith('|') && line.split('|')[1]?.trim() === firstCell);
}

const hex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');

interface ExampleFrame {
  readonly direction: 'D→S' | 'S→D';
  readonly text: string;
  readonly binary: boolean;
}

/** The frames of PROTOCOL.md's examples: lines `D→S {json}` or `S→D bin 01 00 …`. */
function exampleFrames(doc: string): ExampleFrame[] {
  const out: ExampleFrame[] = [];
  for (const line of doc.split('\n')) {
    const json = /(D→S|S→D)\s+(\{.*\})\s*$/.exec(line);
    if (json) out.push({ direction: json[1] as ExampleFrame['direction'], text: json[2]!, binary: false });
    const bin = /(D→S|S→D)\s+bin\s+((?:[0-9a-f]{2} ?)+)\s*$/.exec(line);
    if (bin) out.push({ direction: bin[1] as ExampleFrame['direction'], text: bin[2]!.trim(), binary: true });
  }
  return out;
}

describe('docs/errors.md', () => {
  it('lists every registry code with the HTTP status or close code it causes', () => {
    for (const spec of Object.values(Errors)) {
      assert.ok(errorsDoc.includes(`\`${spec.code}\``), `errors.md does not mention \`${spec.code}\``);
      const row = tableRow(errorsDoc, `\`${spec.code}\``);
      assert.ok(row, `errors.md has no table row for \`${spec.code}\``);
      const status: number | undefined = 'httpStatus' in spec ? spec.httpStatus : undefined;
      const close: number | undefined = 'closeCode' in spec ? spec.closeCode : undefined;
      if (status !== undefined) assert.match(row, new RegExp(`HTTP ${status}\\b`), `${spec.code}: ${status}`);
      if (close !== undefined) assert.match(row, new RegExp(`close ${close}\\b`), `${spec.code}: ${close}`);
    }
  });

  it('has a row for every close code', () => {
    for (const [name, code] of closeCodes) {
      const row = tableRow(errorsDoc, String(code));
      assert.ok(row, `errors.md has no close-code row for ${code}`);
      assert.ok(row.includes(`\`${name}\``), `the row for ${code} does not name ${name}`);
    }
  });

  it('explains every resume failure reason with the metric it is counted in', () => {
    for (const reason of RESUME_FAILURE_REASONS) {
      assert.ok(errorsDoc.includes(`\`${reason}\``), `errors.md does not mention \`${reason}\``);
      assert.ok(
        errorsDoc.includes(`resume_failures{reason="${reason}"}`),
        `errors.md does not name the metric for ${reason}`,
      );
    }
  });
});

describe('docs/PROTOCOL.md', () => {
  it('has a section for every frame type', () => {
    assert.equal(everyFrameTypeListed, true);
    for (const t of FRAME_TYPES) {
      assert.ok(protocolDoc.includes(`### \`${t}\``), `PROTOCOL.md has no section for \`${t}\``);
    }
  });

  it('lists frame types the codec knows', () => {
    for (const t of FRAME_TYPES) {
      const decoded =
        t === 'bin'
          ? decodeFrame(new Uint8Array([0x01, 0, 0, 0, 1, 0, 0, 0, 0]), true)
          : decodeFrame(JSON.stringify({ t }), false);
      if (!decoded.ok) assert.notEqual(decoded.error, Errors.UNKNOWN_FRAME_TYPE, `${t} is not a frame type`);
    }
  });

  it('has a row for every close code and every resume failure reason', () => {
    for (const [, code] of closeCodes) {
      assert.ok(tableRow(protocolDoc, String(code)), `PROTOCOL.md has no close-code row for ${code}`);
    }
    for (const reason of RESUME_FAILURE_REASONS) {
      assert.ok(protocolDoc.includes(`\`${reason}\``), `PROTOCOL.md does not mention \`${reason}\``);
    }
  });

  it('shows the binary frame exactly as the encoder writes it', () => {
    const frame = encodeData({ kind: 'binary', bytes: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) }, 4, 2);
    assert.ok(frame instanceof Uint8Array);
    assert.ok(protocolDoc.includes(hex(frame)), `PROTOCOL.md lacks the hex example ${hex(frame)}`);
  });

  it('uses only frames in its examples that the codec accepts, each in a direction it can travel', () => {
    const frames = exampleFrames(protocolDoc);
    assert.ok(frames.length >= 30, `only ${frames.length} example frames found`);
    const serverOnly = new Set(['welcome', 'reconnect']);
    for (const f of frames) {
      const decoded = f.binary
        ? decodeFrame(
            Uint8Array.from(f.text.split(' '), (b) => Number.parseInt(b, 16)),
            true,
          )
        : decodeFrame(f.text, false);
      assert.ok(decoded.ok, `example frame does not decode: ${f.text} (${decoded.ok || decoded.detail})`);
      const t = decoded.frame.t;
      if (f.direction === 'D→S') assert.ok(!serverOnly.has(t), `a device never sends ${t}: ${f.text}`);
      else assert.notEqual(t, 'hello', `the server never sends hello: ${f.text}`);
    }
  });
});
