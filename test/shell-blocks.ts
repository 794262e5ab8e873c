/**
 * The fenced shell blocks of a Markdown page, and running one of them as an operator would: in bash
 * with `-euo pipefail`, in the environment the earlier blocks left (what they exported carries over,
 * as in the one shell a person reads the page in), bounded in time.
 *
 * A block's info string says where it runs: ```` ```sh ```` everywhere, ```` ```sh production ```` only in
 * production (never run here), ```` ```sh lab ```` only on a lab. Any other shell language, an
 * unknown tag or a fence with no language is an error: it could be a command nobody runs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type BlockKind = 'both' | 'production' | 'lab';

export interface ShellBlock {
  readonly kind: BlockKind;
  readonly body: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The nearest heading above it. */
  readonly heading: string;
}

export interface PageBlocks {
  readonly blocks: readonly ShellBlock[];
  /** Fences this page must not have, each with its line and why. */
  readonly problems: readonly string[];
}

const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console', 'zsh', 'shellsession']);
const KINDS: Readonly<Record<string, BlockKind>> = { '': 'both', production: 'production', lab: 'lab' };

/** Every fenced block of `markdown` (fences may be indented under a list item). */
export function shellBlocks(markdown: string): PageBlocks {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  const problems: string[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '');
    const open = /^( *)(`{3,}|~{3,})\s*(.*)$/.exec(line);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim().startsWith(fence[0]!.repeat(fence.length)) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    if (j === lines.length) problems.push(`line ${i + 1}: a fence that is never closed`);
    const [language = '', ...tags] = info.trim().split(/\s+/).filter(Boolean);
    const kind = KINDS[tags.join(' ')];
    if (language === '') problems.push(`line ${i + 1}: a fence without a language`);
    else if (language === 'sh' && kind) blocks.push({ kind, body: body.join('\n'), line: i + 1, heading });
    else if (SHELL_LANGUAGES.has(language))
      problems.push(`line ${i + 1}: "${info.trim()}" (write "sh", "sh production" or "sh lab")`);
    i = j;
  }
  return { blocks, problems };
}

export interface BlockRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** The environment when the block ended (what the next block starts from); the input when it failed. */
  readonly env: Record<string, string>;
}

/** Variables bash maintains itself: never carried from one block to the next. */
const SHELL_OWN = new Set(['_', 'SHLVL', 'PWD', 'OLDPWD']);

/**
 * Run `body` with `bash -euo pipefail` in `cwd` and `env`, in a process group of its own that is
 * killed whole after `timeoutMs`. A block that succeeds hands its exported environment on.
 */
export function runBlock(
  body: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<BlockRun> {
  const scratch = mkdtempSync(join(tmpdir(), 'zerodrop-block-'));
  const envFile = join(scratch, 'env');
  const script = `${body}\nenv -0 > '${envFile}'\n`;
  const started = Date.now();
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group has already gone
    }
  }, options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let env = options.env;
      if (code === 0) {
        env = { ...Object.fromEntries(Object.entries(options.env).filter(([k]) => SHELL_OWN.has(k))) };
        for (const entry of readFileSync(envFile, 'utf8').split('\0')) {
          const eq = entry.indexOf('=');
          if (eq > 0 && !SHELL_OWN.has(entry.slice(0, eq))) env[entry.slice(0, eq)] = entry.slice(eq + 1);
        }
      }
      rmSync(scratch, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, env });
    });
  });
}
