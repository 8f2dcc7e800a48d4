/**
 * Colours and fonts of the chart, read from the CSS variables VS Code gives every webview
 * (`--vscode-charts-*`, the editor's foreground and background), so the chart looks at home in
 * light, dark and high-contrast themes. Read again whenever the theme changes.
 */

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface ChartTheme {
  kind: ThemeKind;
  foreground: string;
  muted: string;
  background: string;
  grid: string;
  font: string;
  fontSize: number;
  loss: string;
  eval: string;
  best: string;
  lr: string;
  grad: string;
  warning: string;
  /** Colours of compared runs, in order. */
  palette: string[];
  /** Line width: thicker in high contrast. */
  lineWidth: number;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const v = style.getPropertyValue(name).trim();
  return v || fallback;
}

export function themeKind(body: HTMLElement): ThemeKind {
  const c = body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  return c.contains('vscode-light') ? 'light' : 'dark';
}

export function readTheme(): ChartTheme {
  const style = getComputedStyle(document.documentElement);
  const kind = themeKind(document.body);
  const light = kind === 'light' || kind === 'high-contrast-light';
  const hc = kind.startsWith('high-contrast');
  const foreground = cssVar(style, '--vscode-editor-foreground', cssVar(style, '--vscode-foreground', light ? '#333333' : '#cccccc'));
  const background = cssVar(style, '--vscode-editor-background', light ? '#ffffff' : '#1e1e1e');
  const muted = cssVar(style, '--vscode-descriptionForeground', foreground);
  const gridBase = hc ? cssVar(style, '--vscode-contrastBorder', foreground) : cssVar(style, '--vscode-editorWidget-border', cssVar(style, '--vscode-panel-border', muted));
  const chart = (name: string, fallback: string) => cssVar(style, `--vscode-charts-${name}`, fallback);
  const blue = chart('blue', light ? '#1a85ff' : '#3794ff');
  const orange = chart('orange', light ? '#d18616' : '#d18616');
  const green = chart('green', light ? '#388a34' : '#89d185');
  const purple = chart('purple', light ? '#652d90' : '#b180d7');
  const yellow = chart('yellow', light ? '#bf8803' : '#cca700');
  const red = chart('red', light ? '#e51400' : '#f14c4c');
  return {
    kind,
    foreground,
    muted,
    background,
    grid: hc ? gridBase : withAlpha(gridBase, 0.5),
    font: cssVar(style, '--vscode-font-family', 'sans-serif'),
    fontSize: parseFloat(cssVar(style, '--vscode-font-size', '13')) || 13,
    loss: blue,
    eval: orange,
    best: green,
    lr: purple,
    grad: yellow,
    warning: cssVar(style, '--vscode-editorWarning-foreground', yellow),
    palette: [blue, orange, green, purple, red, yellow, foreground],
    lineWidth: hc ? 2.5 : 1.5,
  };
}

/** The colour with this opacity; colours it cannot read come back unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const c = color.trim();
  let m = /^#([0-9a-f]{3,4})$/i.exec(c);
  if (m) {
    const [r, g, b] = [...m[1]].slice(0, 3).map((h) => parseInt(h + h, 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(c);
  if (m) {
    const n = parseInt(m[1], 16);
    const a = m[2] ? (parseInt(m[2], 16) / 255) * alpha : alpha;
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${+a.toFixed(3)})`;
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/i.exec(c);
  if (m) {
    const base = m[4] === undefined ? 1 : m[4].endsWith('%') ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
    return `rgba(${m[1]}, ${m[2]}, ${m[3]}, ${+(base * alpha).toFixed(3)})`;
  }
  return c;
}
