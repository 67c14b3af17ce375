/**
 * `${VAR}` substitution over every string value of the parsed YAML tree (keys are left alone).
 *
 *   ${VAR}          the value of VAR; an error when VAR is not set (set-but-empty gives "")
 *   ${VAR:-default} the value of VAR, or `default` when VAR is unset or empty (the default is literal text)
 *   $$              a literal `$`, so `$${VAR}` is the literal text `${VAR}`
 *   $x              any other `$` is kept as is
 */
export type PathSegment = string | number;

export interface SubstitutionProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly hint: string;
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/;

export interface SubstitutedString {
  readonly value: string;
  readonly problems: readonly Omit<SubstitutionProblem, 'path'>[];
}

export function substituteString(text: string, env: NodeJS.ProcessEnv): SubstitutedString {
  const problems: Omit<SubstitutionProblem, 'path'>[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    const next = text[i + 1];
    if (char !== '$' || (next !== '$' && next !== '{')) {
      out += char;
      i += 1;
      continue;
    }
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      problems.push({
        message: 'unterminated "${" (no closing "}")',
        hint: 'close the reference with "}", or write "$${" for a literal "${"',
      });
      out += text.slice(i);
      break;
    }
    const body = text.slice(i + 2, close);
    const match = REFERENCE.exec(body);
    const name = match?.[1];
    if (!match || name === undefined) {
      problems.push({
        message: `invalid variable reference "\${${body}}"`,
        hint: 'write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or "$${" for a literal "${"',
      });
      out += text.slice(i, close + 1);
    } else {
      const fallback = match[2];
      const value = env[name];
      if (fallback !== undefined) {
        out += value === undefined || value === '' ? fallback : value;
      } else if (value === undefined) {
        problems.push({
          message: `environment variable ${name} is not set`,
          hint: `export ${name}=... or write $\${${name}} for a literal`,
        });
      } else {
        out += value;
      }
    }
    i = close + 1;
  }
  return { value: out, problems };
}

export interface SubstitutedTree {
  readonly value: unknown;
  readonly problems: readonly SubstitutionProblem[];
}

/** Substitute every string value in a YAML-derived tree of plain objects, arrays and scalars; returns a new tree. */
export function substituteTree(value: unknown, env: NodeJS.ProcessEnv): SubstitutedTree {
  const problems: SubstitutionProblem[] = [];
  const walk = (node: unknown, path: PathSegment[]): unknown => {
    if (typeof node === 'string') {
      const result = substituteString(node, env);
      for (const problem of result.problems) problems.push({ path, ...problem });
      return result.value;
    }
    if (Array.isArray(node)) return node.map((item: unknown, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return node;
  };
  return { value: walk(value, []), problems };
}
