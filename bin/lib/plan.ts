/**
 * A command's changes as a list of steps, computed before anything is touched: --dry-run prints
 * the list, a real run applies it in order. Everything that can refuse (bad input, a malformed
 * file, an unverifiable trust bundle) does so while planning, so a refusal changes nothing.
 * A step may carry its undo: when a later step fails, the steps already applied are undone in
 * reverse order.
 */
import type { OptionSpec } from './command.ts';
import { translator } from './i18n.ts';

const t = translator('podsec');

/** The --dry-run of a command that carries out a plan (Plan.carryOut). */
export const DRY_RUN_OPTION: Record<string, OptionSpec> = {
  'dry-run': { type: 'boolean', description: 'show what would change and change nothing' },
};

interface Step {
  /** What the step changes, one translated line. */
  change: string;
  apply: () => void | Promise<void>;
  /** Takes back what `apply` did (best effort: its own failure is ignored). */
  undo?: () => void | Promise<void>;
}

export class Plan {
  readonly steps: Step[] = [];
  /** Information printed after the changes (fingerprints, hints). */
  readonly notes: string[] = [];
  /** Printed on stderr, prefixed with "warning:". */
  readonly warnings: string[] = [];
  /** What a failure is reported as once the steps before it were undone. */
  undoneError: (error: unknown) => unknown = (error) => error;

  change(change: string, apply: Step['apply'], undo?: Step['undo']): void {
    this.steps.push({ change, apply, undo });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  warn(text: string): void {
    this.warnings.push(text);
  }

  get empty(): boolean {
    return this.steps.length === 0;
  }

  /** The report of a dry run or of an applied plan. */
  report(dryRun: boolean): string {
    const lines: string[] = [];
    if (this.empty) lines.push(t('Nothing to change: the configuration is up to date.'));
    else {
      lines.push(dryRun ? t('Dry run: nothing is changed. These changes would be made:') : t('Changes made:'));
      for (const step of this.steps) lines.push(`  - ${step.change}`);
    }
    lines.push(...this.notes);
    return lines.join('\n') + '\n';
  }

  /**
   * What a command does with its plan: applies it unless `dryRun`, then prints the report on
   * stdout. Each warning goes to stderr, after the command's name, as soon as it is known: those
   * of planning before anything is changed, those of the changes after them.
   */
  async carryOut(command: string, dryRun: boolean): Promise<void> {
    const printWarnings = (from: number) => {
      for (const warning of this.warnings.slice(from)) process.stderr.write(`${command}: ${t('warning: {message}', { message: warning })}\n`);
    };
    const planned = this.warnings.length;
    printWarnings(0);
    if (!dryRun) await this.apply();
    printWarnings(planned);
    process.stdout.write(this.report(dryRun));
  }

  async apply(): Promise<void> {
    for (const [index, step] of this.steps.entries()) {
      try {
        await step.apply();
      } catch (error) {
        for (const done of this.steps.slice(0, index).reverse()) {
          try {
            await done.undo?.();
          } catch {
            // best effort: the next run sees what is left and plans it again
          }
        }
        throw this.undoneError(error);
      }
    }
  }
}
