/**
 * @zerodrop/protocol: the wire format, the error registry, the close codes and the sans-I/O reliable
 * channel that both the gateway and the device SDK use. Nothing in this package does I/O.
 */
export * from './channel.js';
export * from './close-codes.js';
export * from './codec.js';
export * from './constants.js';
export * from './errors.js';
export * from './frames.js';
export * from './percentile.js';
