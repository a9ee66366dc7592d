// Prints the summed chaos figures of a run: node dist/test/chaos/lib/print-figures.js <figures.json>
import { formatFigures, readTotals } from './figures.js';

const file = process.argv[2] ?? process.env.QUARRY_CHAOS_FIGURES;
if (!file) {
  process.stderr.write('usage: print-figures.js <figures.json>\n');
  process.exit(2);
}
const totals = readTotals(file);
process.stdout.write(
  `${formatFigures(`chaos suite totals (${totals.files.join(', ') || 'no files reported'})`, totals.figures, totals.findings)}\n`,
);
