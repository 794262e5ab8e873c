/**
 * Device tokens, as the gateway's default scheme checks them (docs/PROTOCOL.md, "Authentication"):
 * `v1.<deviceId>.<unixSeconds>.<base64url(HMAC-SHA256(secret, "v1.<deviceId>.<unixSeconds>"))>`.
 * Uses WebCrypto, so it runs in browsers and on Node 20 alike. For tests and tools: a fleet keeps its
 * secret on the device (or mints tokens in a backend), never in a web page.
 */

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function mintDeviceToken(
  secret: string,
  deviceId: string,
  unixSeconds: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  const enc = new TextEncoder();
  const key = await globalThis.crypto.subtle.importKey(
    'raw',
    enc.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const body = `v1.${deviceId}.${unixSeconds}`;
  const mac = new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, enc.encode(body)));
  return `${body}.${base64url(mac)}`;
}
