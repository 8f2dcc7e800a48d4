/** Ids of the Q&A view, its item kinds (contextValue, used in package.json menus), context keys and commands. */
export const VIEW_ID = 'mnemo.qa';

export const CONTEXT_VALUES = {
  group: 'group',
  file: 'file',
  pair: 'pair',
  pairReviewed: 'pair-reviewed',
  pairRejected: 'pair-rejected',
} as const;

/** Context key holding the active filter of the Q&A view: 'all', 'problems' or 'unreviewed'. */
export const FILTER_CONTEXT_KEY = 'mnemo.qaFilter';

export type QaFilter = 'all' | 'problems' | 'unreviewed';

export const COMMANDS = {
  refresh: 'mnemo.refreshQa',
  editQuestion: 'mnemo.qa.editQuestion',
  editAnswer: 'mnemo.qa.editAnswer',
  deletePair: 'mnemo.qa.deletePair',
  rejectPair: 'mnemo.qa.rejectPair',
  markReviewed: 'mnemo.qa.markReviewed',
  filterProblems: 'mnemo.qa.filterProblems',
  filterUnreviewed: 'mnemo.qa.filterUnreviewed',
  clearFilter: 'mnemo.qa.clearFilter',
  showCoverage: 'mnemo.qa.showCoverage',
  regenerateChunk: 'mnemo.qa.regenerateChunk',
  openSourceChunk: 'mnemo.qa.openSourceChunk',
} as const;
