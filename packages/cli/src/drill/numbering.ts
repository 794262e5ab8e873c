/**
 * Every drill message carries its number `n` (1, 2, 3, … per device and direction), put there by its
 * source and read back at its destination, so the drill counts deliveries without trusting the gateway.
 * Text messages are JSON `{d, n}`; binary ones (a stand-in for an audio chunk) are 48 bytes: "ZD", `n`
 * as a 32-bit big-endian integer, then bytes derived from `n`, so a damaged chunk is noticed too.
 */

const MAGIC_0 = 0x5a; // Z
const MAGIC_1 = 0x44; // D
const BINARY_BYTES = 48;
const HEADER_BYTES = 6;

const fillerByte = (n: number, i: number) => (n + i * 7) & 0xff;

/** Message `n` of `deviceId`'s stream, as text or as binary. */
export function numberedMessage(deviceId: string, n: number, binary: boolean): unknown {
  if (!binary) return { d: deviceId, n };
  const bytes = new Uint8Array(BINARY_BYTES);
  bytes[0] = MAGIC_0;
  bytes[1] = MAGIC_1;
  new DataView(bytes.buffer).setUint32(2, n);
  for (let i = HEADER_BYTES; i < BINARY_BYTES; i++) bytes[i] = fillerByte(n, i);
  return bytes;
}

/** The number a received message carries; NaN when it is not a drill message or its bytes are damaged. */
export function numberOf(value: unknown): number {
  if (value instanceof Uint8Array) {
    if (value.length !== BINARY_BYTES || value[0] !== MAGIC_0 || value[1] !== MAGIC_1) return Number.NaN;
    const n = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(2);
    for (let i = HEADER_BYTES; i < BINARY_BYTES; i++) if (value[i] !== fillerByte(n, i)) return Number.NaN;
    return n;
  }
  const n = (value as { n?: unknown } | null)?.n;
  return typeof n === 'number' ? n : Number.NaN;
}

/** Whether message `n` of a stream is sent as binary: every `binaryEvery`-th one (0: never). */
export function isBinaryTurn(n: number, binaryEvery: number): boolean {
  return binaryEvery > 0 && n % binaryEvery === 0;
}
