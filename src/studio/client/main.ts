/// <reference lib="dom" />
/** The studio page's entry: navigation and hash routes. */
import { api, h, showError, token } from './dom.js';
import { Playground, type StudioConfig } from './playground.js';
import { itemPage, itemsPage, runsPage } from './runs.js';
import { analysisPage, ratePage, studiesPage, studyPage } from './study.js';
import { compareForm, comparePage, overviewForm, overviewPage } from './viewer.js';

let playground: Playground | undefined;

async function route(root: HTMLElement, config: StudioConfig): Promise<void> {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [page = 'playground', a, b, c] = parts;
  document.querySelectorAll('nav a').forEach((link) => {
    const section = page === 'study' ? 'studies' : page === 'overview' ? 'compare' : page;
    if (link.getAttribute('href') === `#/${section}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  });
  let view: HTMLElement;
  if (page === 'runs' && a !== undefined && b === 'item' && c !== undefined)
    view = await itemPage(Number(a), c);
  else if (page === 'runs' && a !== undefined) view = await itemsPage(Number(a));
  else if (page === 'runs') view = await runsPage();
  else if (page === 'compare' && a !== undefined && b !== undefined)
    view = await comparePage(Number(a), Number(b));
  else if (page === 'overview' && a !== undefined) view = await overviewPage(a);
  else if (page === 'compare') {
    const runs = await api<{ index: number; name: string; records: number }[]>('/api/runs');
    view = h('main', { id: 'compare' }, h('h2', {}, 'Compare'), compareForm(runs), overviewForm(runs));
  } else if (page === 'studies') view = await studiesPage();
  else if (page === 'study' && a !== undefined && b === 'rate' && c !== undefined)
    view = await ratePage(a, c);
  else if (page === 'study' && a !== undefined && b === 'analysis') view = await analysisPage(a);
  else if (page === 'study' && a !== undefined) view = await studyPage(a);
  else {
    playground ??= new Playground(config);
    view = playground.root;
  }
  root.replaceChildren(view);
  document.title = `gtalign studio · ${page}`;
}

/**
 * A rater's page (the link names the study and rater, and carries the rater's own token): that rating
 * only, without the owner's navigation, which the token would not open anyway.
 */
function startRater(study: string, rater: string): void {
  const root = h('div', { id: 'view' });
  const error = h('p', { class: 'error', role: 'alert' });
  document.body.replaceChildren(h('header', {}, h('h1', {}, 'gtalign studio')), error, root);
  ratePage(study, rater)
    .then((view) => {
      root.replaceChildren(view);
      document.title = 'gtalign studio · rating';
      document.body.setAttribute('data-ready', location.hash);
    })
    .catch((err) => showError(error, err));
}

async function start(): Promise<void> {
  token();
  const search = new URLSearchParams(location.search);
  const study = search.get('study');
  const rater = search.get('rater');
  if (study !== null && rater !== null) return startRater(study, rater);
  const root = h('div', { id: 'view' });
  const error = h('p', { class: 'error', role: 'alert' });
  document.body.replaceChildren(
    h(
      'header',
      {},
      h('h1', {}, 'gtalign studio'),
      h(
        'nav',
        { 'aria-label': 'Pages' },
        h('a', { href: '#/playground' }, 'Playground'),
        h('a', { href: '#/runs' }, 'Runs'),
        h('a', { href: '#/compare' }, 'Compare'),
        h('a', { href: '#/studies' }, 'Studies'),
      ),
    ),
    error,
    root,
  );
  let config: StudioConfig;
  try {
    config = await api<StudioConfig>('/api/config');
  } catch (err) {
    showError(error, err);
    return;
  }
  const go = () => {
    showError(error, undefined);
    route(root, config)
      .then(() => document.body.setAttribute('data-ready', location.hash))
      .catch((err) => showError(error, err));
  };
  window.addEventListener('hashchange', go);
  go();
}

void start();
