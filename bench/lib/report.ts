/** Markdown pieces the benches print and run-all writes to docs/benchmarks.md. */

export interface Section {
  /** The `##` heading, without the hashes. */
  title: string;
  /** Markdown below the heading: notes and tables. */
  body: string;
}

/** A markdown table; `right` lists the indexes of right-aligned (numeric) columns. */
export function table(headers: string[], rows: Array<Array<string | number>>, right: number[] = []): string {
  const align = headers.map((_, i) => (right.includes(i) ? '---:' : '---'));
  return [headers, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export const renderSection = (s: Section) => `## ${s.title}\n\n${s.body.trim()}\n`;

/** One goal of the performance issue, measured next to its baseline in the same run. */
export interface GoalRow {
  measure: string;
  /** Quarry's figure, already formatted with its unit. */
  quarry: string;
  /** The baseline's figure with its unit, or '—' when the measure has none. */
  baseline: string;
  /** Quarry ÷ baseline, when both are numbers in the same unit. */
  ratio?: number;
  /** The goal as written, e.g. '≤ 1.0 s'. */
  goal: string;
  met: boolean;
  /** Why a missed goal was missed, with the measured limit; printed under the table. */
  reason?: string;
}

/** The table every performance bench prints: measure | Quarry | baseline | ratio | goal | met? */
export function goalTable(rows: GoalRow[]): string {
  const body = table(
    ['measure', 'Quarry', 'baseline', 'ratio', 'goal', 'met?'],
    rows.map((r) => [
      r.measure,
      r.quarry,
      r.baseline,
      r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`,
      r.goal,
      r.met ? 'met' : '**missed**',
    ]),
    [1, 2, 3],
  );
  const reasons = rows.filter((r) => !r.met && r.reason).map((r) => `- Missed, ${r.measure}: ${r.reason}`);
  return reasons.length ? `${body}\n\n${reasons.join('\n')}` : body;
}
