// The result of one doctor check and how it is printed (text line or JSON).
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  /** ok/warn: what was found; fail: what is wrong. */
  detail: string;
  /** How to fix it (fail, and warn where there is something to do). */
  fix?: string;
}

export const ok = (check: string, detail: string): CheckResult => ({ check, status: 'ok', detail });
export const warn = (check: string, detail: string, fix?: string): CheckResult =>
  fix === undefined ? { check, status: 'warn', detail } : { check, status: 'warn', detail, fix };
export const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'fail', detail, fix });

const LABEL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** `ok   <check>: <detail>`, `FAIL <check>: <what is wrong> — fix: <fix>`, `warn <check>: <detail>[ — fix: <fix>]`. */
export function formatResult(r: CheckResult): string {
  const detail = oneLine(r.detail);
  const fix = r.fix && r.status !== 'ok' ? ` — fix: ${oneLine(r.fix)}` : '';
  return `${LABEL[r.status]} ${r.check}: ${detail}${fix}`;
}

export function formatResults(results: readonly CheckResult[]): string {
  return results.map((r) => `${formatResult(r)}\n`).join('');
}

export function formatJson(results: readonly CheckResult[]): string {
  return `${JSON.stringify(results, null, 2)}\n`;
}

/** 0 when nothing failed (warnings included), 1 otherwise. */
export function exitCodeFor(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').trim();
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
