/**
 * A command's changes as a list of steps, computed before anything is touched: --dry-run prints
 * the list, a real run applies it in order. Everything that can refuse (bad input, a malformed
 * file, an unverifiable trust bundle) does so while planning, so a refusal changes nothing.
 */
import { translator } from './i18n.ts';

const t = translator('podsec');

export interface Step {
  /** What the step changes, one translated line. */
  change: string;
  apply: () => void | Promise<void>;
}

export class Plan {
  readonly steps: Step[] = [];
  /** Information printed after the changes (fingerprints, hints). */
  readonly notes: string[] = [];
  /** Printed on stderr, prefixed with "warning:". */
  readonly warnings: string[] = [];

  change(change: string, apply: Step['apply']): void {
    this.steps.push({ change, apply });
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

  async apply(): Promise<void> {
    for (const step of this.steps) await step.apply();
  }
}
