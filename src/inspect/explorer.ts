import type { ModelAttention } from '../infer/attention-maps.js';
import { escapeMarkup } from '../viz/panels.js';
import { EXPLORER_CSS, EXPLORER_MARKUP, EXPLORER_SCRIPT, explorerExample, scriptJson, type ExplorerExample } from '../viz/html.js';

/**
 * Several views of one input (the raw weights, their rollout, their value norms) in the attention
 * explorer of 'atencao attention', one per entry of its selector, named by what each shows.
 */
export function explorerExamples(views: readonly ModelAttention[]): ExplorerExample[] {
  return views.map((maps, i) => {
    const example = explorerExample({ maps });
    const name = i === 0 ? 'attention weights' : (maps.maps[0]?.title.split(': ').at(-1) ?? `view ${i + 1}`);
    return { ...example, name };
  });
}

/** A self-contained page (works from file://) with the explorer over those views. */
export function explorerPage(title: string, views: readonly ModelAttention[]): string {
  const data = scriptJson(explorerExamples(views));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeMarkup(title)}</title>
<style>
${EXPLORER_CSS}</style>
</head>
<body>
<h1>${escapeMarkup(title)}</h1>
${EXPLORER_MARKUP.replace('<label id="example-label">Sentence', '<label id="example-label">View')}<script type="application/json" id="attention-data">${data}</script>
<script>
${EXPLORER_SCRIPT}</script>
</body>
</html>
`;
}
