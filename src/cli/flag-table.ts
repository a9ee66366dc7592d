/**
 * One table per command describes its flags: node:util parseArgs options are derived from it,
 * and so is the command's --help. A new flag is one new row; help cannot drift from parsing.
 */
export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  default?: string | boolean;
  /** Placeholder for the value in help, e.g. `[name=]path`; none for booleans. */
  arg?: string;
  /** One line or more; the default, when there is one, is appended. */
  help: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

type ParseOption = { type: 'string' | 'boolean'; multiple?: boolean; default?: string | boolean };

/** The parseArgs `options` for a table (typed loosely: parseArgs checks the values). */
export function parseArgsOptions(table: FlagTable): Record<string, ParseOption> {
  const out: Record<string, ParseOption> = {};
  for (const [name, f] of Object.entries(table)) {
    out[name] = { type: f.type, ...(f.multiple ? { multiple: true } : {}), ...(f.default !== undefined ? { default: f.default } : {}) };
  }
  return out;
}

const COLUMN = 31;

/** The flags as help lines: `  --name ARG   help (default X)`, wrapped under the help column. */
export function formatFlags(table: FlagTable): string {
  const lines: string[] = [];
  for (const [name, f] of Object.entries(table)) {
    const left = `  --${name}${f.arg ? ` ${f.arg}` : ''}`;
    const showDefault = f.default !== undefined && f.default !== false && f.default !== '';
    const text = `${f.help}${showDefault ? ` (default ${f.default})` : ''}${f.multiple ? '; repeatable' : ''}`;
    const words = text.split(' ');
    let line = left.length >= COLUMN - 1 ? `${left}\n${' '.repeat(COLUMN)}` : left.padEnd(COLUMN);
    let width = line.length - line.lastIndexOf('\n') - 1;
    for (const w of words) {
      if (width + w.length + 1 > 96 && width > COLUMN) {
        lines.push(line.trimEnd());
        line = ' '.repeat(COLUMN);
        width = COLUMN;
      }
      line += (width > COLUMN ? ' ' : '') + w;
      width += (width > COLUMN ? 1 : 0) + w.length;
    }
    lines.push(line.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}
