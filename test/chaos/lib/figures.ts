// Chaos helper: the suite's figures. Each test file adds what it saw; the block is printed per file
// and, when QUARRY_CHAOS_FIGURES names a file, summed there so print-figures.js shows the whole run.
import { readFileSync, writeFileSync } from 'node:fs';

export const FIGURE_NAMES = [
  'rounds',
  'operations',
  'retries',
  'failedAfterRetry',
  'checksumChecks',
  'checksumMismatches',
  'lostWrites',
  'snapshotsChecked',
  'tornSnapshots',
  'orphans',
  'frozenFilesystems',
  'corruptRecords',
  'foreignTouched',
  'leaks',
] as const;

export type FigureName = (typeof FIGURE_NAMES)[number];
export type Figures = Record<FigureName, number>;

const LABELS: Record<FigureName, string> = {
  rounds: 'kill rounds',
  operations: 'operations',
  retries: 'retries',
  failedAfterRetry: 'operations failed after retry',
  checksumChecks: 'checksum checks',
  checksumMismatches: 'checksum mismatches',
  lostWrites: 'lost writes',
  snapshotsChecked: 'snapshots checked',
  tornSnapshots: 'torn snapshots',
  orphans: 'orphans',
  frozenFilesystems: 'frozen filesystems',
  corruptRecords: 'corrupt records',
  foreignTouched: 'foreign objects touched',
  leaks: 'leaked loops/records/mounts',
};

export function emptyFigures(): Figures {
  return Object.fromEntries(FIGURE_NAMES.map((n) => [n, 0])) as Figures;
}

/** The running figures of one test file; `findings` keeps one readable line per bad thing seen. */
export class FigureBook {
  readonly figures = emptyFigures();
  readonly findings: string[] = [];

  add(name: FigureName, n = 1): void {
    this.figures[name] += n;
  }

  private readonly seen = new Set<string>();

  /**
   * Counts one bad thing under `name` and keeps its description. `key` names the thing itself
   * (default: the description), so one orphan seen by several audits counts once.
   */
  found(name: FigureName, what: string, key = what): void {
    if (this.seen.has(`${name}\0${key}`)) return;
    this.seen.add(`${name}\0${key}`);
    this.add(name);
    this.findings.push(`${name}: ${what}`);
  }

  /** Prints the block to stderr and adds it to the run's file, if any. */
  publish(label: string): string {
    const block = formatFigures(`chaos figures: ${label}`, this.figures, this.findings);
    process.stderr.write(`${block}\n`);
    const file = process.env.QUARRY_CHAOS_FIGURES;
    if (file) {
      const total = readTotals(file);
      for (const n of FIGURE_NAMES) total.figures[n] += this.figures[n];
      total.findings.push(...this.findings.map((f) => `[${label}] ${f}`));
      total.files.push(label);
      writeFileSync(file, JSON.stringify(total, null, 1));
    }
    return block;
  }
}

export interface Totals {
  files: string[];
  figures: Figures;
  findings: string[];
}

export function readTotals(file: string): Totals {
  try {
    const t = JSON.parse(readFileSync(file, 'utf8')) as Totals;
    return { files: t.files ?? [], figures: { ...emptyFigures(), ...t.figures }, findings: t.findings ?? [] };
  } catch {
    return { files: [], figures: emptyFigures(), findings: [] };
  }
}

export function formatFigures(title: string, f: Figures, findings: readonly string[] = []): string {
  const width = Math.max(...FIGURE_NAMES.map((n) => LABELS[n].length));
  const lines = [`==== ${title}`, ...FIGURE_NAMES.map((n) => `  ${LABELS[n].padEnd(width)}  ${f[n]}`)];
  if (findings.length) lines.push('  findings:', ...findings.slice(0, 60).map((s) => `    - ${s}`));
  if (findings.length > 60) lines.push(`    ... and ${findings.length - 60} more`);
  lines.push('====');
  return lines.join('\n');
}
