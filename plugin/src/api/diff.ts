/** A line of a unified diff: ' ' unchanged, '-' only in the old text, '+' only in the new one. */
export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
}

/**
 * lineDiff is a line-based diff (longest common subsequence) of two small texts, such as the
 * YAML of one object before and after an edit. Quadratic in lines: meant for objects, not logs.
 */
export function lineDiff(oldText: string, newText: string): DiffLine[] {
  const a = oldText.split('\n');
  const b = newText.split('\n');
  if (a[a.length - 1] === '') {
    a.pop();
  }
  if (b[b.length - 1] === '') {
    b.pop();
  }
  // lcs[i][j] = length of the LCS of a[i:] and b[j:].
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: '-', text: a[i++] });
    } else {
      out.push({ op: '+', text: b[j++] });
    }
  }
  while (i < a.length) {
    out.push({ op: '-', text: a[i++] });
  }
  while (j < b.length) {
    out.push({ op: '+', text: b[j++] });
  }
  return out;
}

export function hasChanges(d: DiffLine[]): boolean {
  return d.some((l) => l.op !== ' ');
}
