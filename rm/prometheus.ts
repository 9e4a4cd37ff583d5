/**
 * Prometheus' text exposition format (version 0.0.4), written (pure): each metric family once
 * with its HELP and TYPE lines, then its samples, label values escaped as the format says.
 */

export type MetricType = 'counter' | 'gauge' | 'summary' | 'histogram' | 'untyped';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Exposition {
  private readonly lines: string[] = [];
  private readonly families = new Set<string>();

  /** Start a family: its HELP and TYPE (once per name; a second call is a bug). */
  family(name: string, type: MetricType, help: string): this {
    if (!NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
    if (this.families.has(name)) throw new Error(`metric family ${name} written twice`);
    this.families.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return this;
  }

  /** One sample of the family last started (`name` may add a suffix: `_sum`, `_count`). */
  sample(name: string, labels: Record<string, string | number>, value: number): this {
    if (!NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
    const pairs = Object.entries(labels).map(([k, v]) => {
      if (!LABEL.test(k)) throw new Error(`bad label name ${JSON.stringify(k)}`);
      return `${k}="${escapeLabel(String(v))}"`;
    });
    this.lines.push(`${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${number(value)}`);
    return this;
  }

  text(): string {
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }
}
