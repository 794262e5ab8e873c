import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './test-support/run-cli.js';

describe('zerodrop (dispatch and help)', () => {
  it('every operations command and drain subcommand answers --help (or -h) with its usage and exit 0', async () => {
    const cases: [string[], RegExp][] = [
      [['--help'], /^Usage: zerodrop <command>[\s\S]*drain[\s\S]*metrics[\s\S]*verify/],
      [['drain', '--help'], /^Usage: zerodrop drain <start\|status\|complete\|cancel>/],
      [['drain', 'start', '--help'], /^Usage: zerodrop drain start --reason <text> \[--max-age <seconds>\]/],
      [['drain', 'status', '-h'], /^Usage: zerodrop drain status \[--watch\]/],
      [['metrics', '--help'], /^Usage: zerodrop metrics \[--watch \[seconds\]\] \[--count <n>\]/],
      [['verify', '--help'], /^Usage: zerodrop verify/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    runs.forEach((run, i) => {
      const [args, usage] = cases[i]!;
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stdout, usage, args.join(' '));
      if (args[0] !== '--help') assert.match(run.stdout, /--url <url>/, args.join(' '));
    });
  });

  it('an unknown command, or none, is a usage error (exit 2)', async () => {
    const [unknown, none] = await Promise.all([runCli(['drian']), runCli([])]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "drian"/);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: zerodrop <command>/);
  });
});
