import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

/**
 * The one way Mnemo builds webview HTML. Every page gets the same strict Content-Security-Policy:
 * nothing by default, scripts only with this page's nonce (no inline script, no eval), styles,
 * images and fonts only from the extension's own files (`webview.cspSource`), no network. The
 * page body is static markup; everything dynamic is done by the bundled script.
 */

/** Folders a webview may load from: the bundle and media. Nothing else of the disk is reachable. */
export function localResourceRoots(extensionUri: vscode.Uri): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')];
}

/** Options for createWebviewPanel (and for a restored panel's webview). */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return { enableScripts: true, enableCommandUris: false, localResourceRoots: localResourceRoots(extensionUri) };
}

/** A fresh nonce for one page: 128 random bits. */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

export interface WebviewPage {
  /** The page title (for screen readers; the tab shows the panel's title). */
  title: string;
  /** Scripts, relative to the extension root (e.g. `dist/webview/chart.js`); loaded in order, deferred. */
  scripts: string[];
  /** Style sheets, relative to the extension root. */
  styles?: string[];
  /** Static markup of the body. Never interpolate untrusted text here: send it in a message. */
  body?: string;
}

/** The Content-Security-Policy of a page with this nonce. */
export function contentSecurityPolicy(webview: vscode.Webview, nonce: string): string {
  const src = webview.cspSource;
  return [`default-src 'none'`, `script-src 'nonce-${nonce}'`, `style-src ${src}`, `img-src ${src}`, `font-src ${src}`, `base-uri 'none'`, `form-action 'none'`].join('; ');
}

/** The HTML of a page: CSP, styles and scripts from the extension's files, each script with the nonce. */
export function renderWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, page: WebviewPage): string {
  const nonce = makeNonce();
  const uri = (p: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p.split('/'))).toString();
  const styles = (page.styles ?? []).map((s) => `<link rel="stylesheet" href="${escapeAttr(uri(s))}">`).join('\n    ');
  const scripts = page.scripts.map((s) => `<script defer nonce="${nonce}" src="${escapeAttr(uri(s))}"></script>`).join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(webview, nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    <title>${escapeText(page.title)}</title>
    ${styles}
    ${scripts}
  </head>
  <body>
${page.body ?? ''}
  </body>
</html>`;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
