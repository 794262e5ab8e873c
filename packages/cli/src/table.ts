/**
 * Plain-text tables for the operations commands: columns padded to their widest cell, section titles
 * between groups of rows, and one way to show a JSON value in a cell. No colours and no box drawing,
 * so the output reads the same in a terminal, a CI log and a pasted incident note.
 */

/** A row of cells, or a section title printed on its own line. */
export type Row = readonly string[] | { readonly section: string };

export interface TableOptions {
  readonly header?: readonly string[];
  /** Columns (by index) whose cells are aligned right, e.g. numbers. */
  readonly alignRight?: readonly number[];
}

const GAP = '  ';

export function renderTable(rows: readonly Row[], options: TableOptions = {}): string {
  const cellRows = rows.filter((r): r is readonly string[] => Array.isArray(r));
  const all = options.header ? [options.header, ...cellRows] : cellRows;
  const widths: number[] = [];
  for (const row of all) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  const right = new Set(options.alignRight ?? []);
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(GAP)
      .trimEnd();
  const out: string[] = [];
  if (options.header) out.push(line(options.header));
  for (const row of rows) out.push(Array.isArray(row) ? line(row) : (row as { section: string }).section);
  return out.join('\n');
}

/**
 * A JSON value as one cell: null as "-", booleans as yes/no, a small object as `k=v` pairs, a larger
 * one (counts by reason) as its non-zero pairs, or "none".
 */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number' || typeof value === 'string') return String(value);
  if (Array.isArray(value)) return value.map(formatValue).join(', ') || 'none';
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const shown = entries.length <= 3 ? entries : entries.filter(([, v]) => v !== 0);
    return shown.map(([k, v]) => `${k}=${formatValue(v)}`).join(' ') || 'none';
  }
  return String(value);
}

/** A duration in seconds as an operator reads it: "42 s", "3 min 5 s". */
export function formatSeconds(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
