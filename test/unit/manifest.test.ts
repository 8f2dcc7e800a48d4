// Consistency of package.json's contributions: what VS Code would silently ignore or show broken.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const c = manifest.contributes;

interface Command {
  command: string;
  title: string;
  category?: string;
  icon?: string | { light: string; dark: string };
}
interface MenuItem {
  command?: string;
  submenu?: string;
  when?: string;
  group?: string;
}

const commands: Command[] = c.commands;
const commandIds = new Set(commands.map((x) => x.command));
const viewIds = new Set<string>(Object.values(c.views as Record<string, { id: string }[]>).flatMap((vs) => vs.map((v) => v.id)));
const viewContainerIds = new Set<string>(Object.values(c.viewsContainers as Record<string, { id: string }[]>).flatMap((vs) => vs.map((v) => v.id)));

/** Commands VS Code makes for every view and container (e.g. mnemo.sources.focus). */
function isGeneratedViewCommand(id: string): boolean {
  const m = /^(.*)\.(focus|resetViewLocation|removeView|toggleVisibility|open)$/.exec(id);
  return !!m && (viewIds.has(m[1]) || viewContainerIds.has(m[1].replace(/^workbench\.view\.extension\./, '')));
}

/** `command:` links in markdown-ish text: viewsWelcome contents, walkthrough descriptions. */
function commandLinks(text: string): string[] {
  return [...text.matchAll(/\(command:([\w.-]+)(?:\?[^)]*)?\)/g)].map((m) => m[1]);
}

void test('every command has the Mnemo category, a title and an icon', () => {
  assert.ok(commands.length > 0);
  for (const cmd of commands) {
    assert.match(cmd.command, /^mnemo\.[a-zA-Z]+(\.[a-zA-Z]+)*$/, `command id ${cmd.command}`);
    assert.equal(cmd.category, 'Mnemo', `${cmd.command} category`);
    assert.ok(cmd.title?.trim(), `${cmd.command} has a title`);
    assert.ok(!/^Mnemo:/i.test(cmd.title), `${cmd.command}: the category already says "Mnemo:"`);
    assert.ok(cmd.icon, `${cmd.command} has an icon`);
    if (typeof cmd.icon === 'string') {
      if (cmd.icon.startsWith('$(')) assert.match(cmd.icon, /^\$\([a-z0-9-]+(~spin)?\)$/, `${cmd.command} icon ${cmd.icon}`);
      else assert.ok(existsSync(join(root, cmd.icon)), `${cmd.command} icon file ${cmd.icon}`);
    } else {
      assert.ok(existsSync(join(root, cmd.icon.light)) && existsSync(join(root, cmd.icon.dark)), `${cmd.command} icon files`);
    }
  }
});

void test('command ids and palette titles are unique', () => {
  const ids = commands.map((x) => x.command);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'duplicate command ids');
  const hidden = new Set((c.menus?.commandPalette ?? []).filter((m: MenuItem) => m.when === 'false').map((m: MenuItem) => m.command));
  const titles = commands.filter((x) => !hidden.has(x.command)).map((x) => `${x.category}: ${x.title}`);
  assert.deepEqual(titles.filter((t, i) => titles.indexOf(t) !== i), [], 'two palette entries would read the same');
});

void test('every command in menus exists, and every view in a `when` clause too', () => {
  for (const [menu, items] of Object.entries(c.menus as Record<string, MenuItem[]>)) {
    for (const item of items) {
      if (item.command) assert.ok(commandIds.has(item.command), `menu ${menu} names unknown command ${item.command}`);
      for (const m of (item.when ?? '').matchAll(/\bview\s*==\s*([\w.-]+)/g)) assert.ok(viewIds.has(m[1]), `menu ${menu}: when "${item.when}" names unknown view ${m[1]}`);
    }
  }
});

void test('every view has welcome content, and welcome links name real commands', () => {
  const welcomed = new Set((c.viewsWelcome as { view: string }[]).map((w) => w.view));
  for (const id of viewIds) assert.ok(welcomed.has(id), `view ${id} has no viewsWelcome entry (an empty view says nothing)`);
  for (const w of c.viewsWelcome as { view: string; contents: string }[]) {
    assert.ok(viewIds.has(w.view), `viewsWelcome for unknown view ${w.view}`);
    for (const id of commandLinks(w.contents)) assert.ok(commandIds.has(id) || isGeneratedViewCommand(id), `viewsWelcome of ${w.view} links unknown command ${id}`);
  }
});

void test('walkthrough steps: media files exist, links and completion events name real commands and views', () => {
  assert.ok(c.walkthroughs.length > 0);
  for (const wt of c.walkthroughs) {
    for (const step of wt.steps) {
      const media = step.media ?? {};
      const files = [media.markdown, media.svg, typeof media.image === 'string' ? media.image : media.image?.light, media.image?.dark].filter(Boolean);
      assert.ok(files.length > 0, `step ${step.id} has media`);
      for (const f of files) assert.ok(existsSync(join(root, f)), `step ${step.id}: media file ${f} is missing`);
      for (const id of commandLinks(step.description)) assert.ok(commandIds.has(id) || isGeneratedViewCommand(id), `step ${step.id} links unknown command ${id}`);
      for (const ev of step.completionEvents ?? []) {
        const [kind, arg] = ev.split(':');
        if (kind === 'onCommand') assert.ok(commandIds.has(arg), `step ${step.id}: ${ev}`);
        if (kind === 'onView') assert.ok(viewIds.has(arg), `step ${step.id}: ${ev}`);
      }
    }
  }
});

void test('files the manifest points at exist: schema, grammar, language configuration, icons, main', () => {
  for (const v of c.jsonValidation) {
    assert.ok(existsSync(join(root, v.url)), `jsonValidation schema ${v.url}`);
    JSON.parse(readFileSync(join(root, v.url), 'utf8'));
  }
  for (const g of c.grammars) assert.ok(existsSync(join(root, g.path)), `grammar ${g.path}`);
  for (const l of c.languages) if (l.configuration) assert.ok(existsSync(join(root, l.configuration)), `language configuration ${l.configuration}`);
  for (const containers of Object.values(c.viewsContainers as Record<string, { icon: string }[]>)) for (const v of containers) assert.ok(existsSync(join(root, v.icon)), `container icon ${v.icon}`);
  for (const views of Object.values(c.views as Record<string, { icon?: string }[]>)) for (const v of views) if (v.icon) assert.ok(existsSync(join(root, v.icon)), `view icon ${v.icon}`);
  // dist/extension.js is built from src/extension/main.ts by scripts/build.mjs.
  assert.equal(manifest.main, './dist/extension.js');
  assert.ok(existsSync(join(root, 'src/extension/main.ts')));
});

void test('every file the manifest (or the extension at run time) points at is packaged by .vscodeignore', () => {
  const ignore = readFileSync(join(root, '.vscodeignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '**', '.vscodeignore is an allow-list: it starts by excluding everything');
  // As vsce reads it: a file is left out when an exclude matches it and no "!" include does.
  const excludes = ignore.filter((l) => !l.startsWith('!')).map(globToRegExp);
  const includes = ignore.filter((l) => l.startsWith('!')).map((l) => globToRegExp(l.slice(1)));
  const packaged = (p: string) => {
    const path = p.replace(/^\.\//, '');
    return !excludes.some((re) => re.test(path)) || includes.some((re) => re.test(path));
  };
  assert.ok(!packaged('src/extension/main.ts') && !packaged('node_modules/x/index.js') && !packaged('dist/extension.js.map') && !packaged('dist/cli.js'), 'sources, node_modules, source maps and the CLI stay out');
  const referenced = [
    manifest.main,
    'dist/server.js', // the .qa language server, started by the extension
    'dist/pdf.worker.mjs', // pdf.js loads its worker from beside the bundle
    'dist/webview/chart.js', // the chart webview (src/extension/chart/panel.ts)
    'dist/webview/chart.css',
    ...c.jsonValidation.map((v: { url: string }) => v.url),
    ...c.grammars.map((g: { path: string }) => g.path),
    ...c.languages.map((l: { configuration?: string }) => l.configuration).filter(Boolean),
    ...Object.values(c.viewsContainers as Record<string, { icon: string }[]>).flatMap((vs) => vs.map((v) => v.icon)),
    ...c.walkthroughs.flatMap((w: { steps: { media: { markdown?: string } }[] }) => w.steps.map((s) => s.media.markdown).filter(Boolean)),
    'package.json',
    'README.md',
    'LICENSE',
  ];
  for (const p of referenced) assert.ok(packaged(p), `${p} would be left out of the .vsix by .vscodeignore`);
});

/** A .gitignore-style glob (`**`, `*`, `?`) as a regular expression over /-separated paths. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

void test('settings are namespaced and described', () => {
  for (const [key, spec] of Object.entries(c.configuration.properties as Record<string, { description?: string; markdownDescription?: string; type?: string }>)) {
    assert.match(key, /^mnemo\./, key);
    assert.ok(spec.description || spec.markdownDescription, `${key} has a description`);
    assert.ok(spec.type, `${key} has a type`);
  }
});

void test('activation: on a project folder and on .qa files; commands activate through their contributions', () => {
  assert.ok(manifest.activationEvents.includes('workspaceContains:mnemo.json'));
  // VS Code derives onCommand/onView events from contributions; listing them again is noise.
  assert.deepEqual(manifest.activationEvents.filter((e: string) => /^on(Command|View):/.test(e)), []);
});
