/**
 * Near-duplicate groups of questions, so that the train/test split never puts two near-identical
 * questions on different sides (a test question whose twin is in train measures nothing).
 *
 * Two questions are near-duplicates when the Jaccard similarity of their shingles (content words
 * and word pairs, the context's keywords left out: src/core/qa/similarity.ts) is at least the
 * threshold. Groups are the connected components of that relation (union-find). Candidate pairs
 * come from prefix filtering (Bayardo et al., "Scaling up all pairs similarity search"): with
 * tokens in a global order, two sets with Jaccard >= t always share a token within their first
 * |A| - ceil(t|A|) + 1 tokens. That is exact, unlike MinHash banding, so "never straddles" holds.
 */
import { exactKey, jaccard, shingles } from '../qa/similarity';

/** Looser than the language server's near-duplicate warning (0.7), so every flagged pair stays on one side. */
export const SPLIT_NEAR_DUPLICATE_THRESHOLD = 0.6;

export class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(x: number): number {
    while (this.parent[x] !== x) {
      this.parent[x] = this.parent[this.parent[x]];
      x = this.parent[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    // The smaller index becomes the root, so group order does not depend on union order.
    if (ra !== rb) {
      if (ra < rb) this.parent[rb] = ra;
      else this.parent[ra] = rb;
    }
  }
}

/**
 * Groups texts into near-duplicate clusters. Returns groups of indices into `texts`, each sorted
 * ascending, the groups ordered by their first index.
 */
export function nearDuplicateGroups(texts: readonly string[], options: { keywords?: readonly string[]; threshold?: number } = {}): number[][] {
  const t = options.threshold ?? SPLIT_NEAR_DUPLICATE_THRESHOLD;
  const ignore = new Set((options.keywords ?? []).flatMap((k) => exactKey(k).split(' ')).filter(Boolean));
  const uf = new UnionFind(texts.length);

  // The same words (case and punctuation aside) are the same question, even when no shingle is left;
  // only one text per key goes through the similarity search.
  const byKey = new Map<string, number>();
  const reps: number[] = [];
  texts.forEach((text, i) => {
    const key = exactKey(text);
    const first = byKey.get(key);
    if (first === undefined) {
      byKey.set(key, i);
      reps.push(i);
    } else uf.union(first, i);
  });

  const sets = new Map<number, Set<number>>(reps.map((i) => [i, shingles(texts[i], ignore)]));
  const freq = new Map<number, number>();
  for (const s of sets.values()) for (const x of s) freq.set(x, (freq.get(x) ?? 0) + 1);
  const order = (a: number, b: number) => freq.get(a)! - freq.get(b)! || a - b;

  const index = new Map<number, number[]>();
  let firstEmpty: number | undefined;
  for (const i of reps) {
    const set = sets.get(i)!;
    if (set.size === 0) {
      // No content word at all: such questions count as alike (Jaccard of two empty sets is 1).
      if (firstEmpty === undefined) firstEmpty = i;
      else uf.union(firstEmpty, i);
      continue;
    }
    const sorted = [...set].sort(order);
    const prefix = sorted.length - Math.ceil(t * sorted.length - 1e-9) + 1;
    const seen = new Set<number>();
    for (let k = 0; k < prefix; k++) {
      const postings = index.get(sorted[k]);
      if (postings) {
        for (const j of postings) {
          if (seen.has(j)) continue;
          seen.add(j);
          const other = sets.get(j)!;
          // Size filter: Jaccard >= t needs t|A| <= |B| <= |A|/t.
          if (other.size < t * set.size - 1e-9 || set.size < t * other.size - 1e-9) continue;
          if (uf.find(i) !== uf.find(j) && jaccard(set, other) >= t) uf.union(i, j);
        }
        postings.push(i);
      } else index.set(sorted[k], [i]);
    }
  }

  const groups = new Map<number, number[]>();
  for (let i = 0; i < texts.length; i++) {
    const root = uf.find(i);
    const g = groups.get(root);
    if (g) g.push(i);
    else groups.set(root, [i]);
  }
  return [...groups.values()].sort((a, b) => a[0] - b[0]);
}
