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
