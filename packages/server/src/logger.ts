/**
 * Structured logs: JSON, one event per line, each with a stable `event` name and the instance id.
 * Tokens and secrets are never passed to the logger; the redaction list is a second line of defence.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(options: {
  level: string;
  instance: string;
  destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      level: options.level,
      base: { instance: options.instance },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['token', 'resume.token', 'authorization', 'headers.authorization', '*.token', 'secret'],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
