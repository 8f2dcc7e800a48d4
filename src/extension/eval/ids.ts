/** Ids of the Evaluations view, its item kinds (contextValue, used in package.json menus), the diff documents' scheme and the commands. */
export const VIEW_ID = 'mnemo.evaluations';

/**
 * Read-only answer sets in .qa form: `mnemo-eval:/<project-relative path of the JSON, .json -> .qa>`,
 * with `?vs=<the other set's path>` when shown against another set in a diff (aligns the
 * questions and marks the verdicts that changed).
 */
export const EVAL_SCHEME = 'mnemo-eval';

export const CONTEXT_VALUES = {
  evalSet: 'eval-set',
  group: 'eval-group',
  answerSet: 'answer-set',
  tag: 'eval-tag',
  problem: 'eval-problem',
  leaks: 'eval-leaks',
  leak: 'eval-leak',
  regressions: 'eval-regressions',
  regression: 'eval-regression',
} as const;

/** Context key: true while an evaluation is running (its cancel command shows). */
export const RUNNING_CONTEXT_KEY = 'mnemo.evaluating';

export const COMMANDS = {
  runEvaluation: 'mnemo.runEvaluation',
  compareAnswers: 'mnemo.compareAnswers',
  cancelEvaluation: 'mnemo.eval.cancel',
  refresh: 'mnemo.eval.refresh',
  openResults: 'mnemo.eval.openResults',
  compareWith: 'mnemo.eval.compareWith',
  deleteResults: 'mnemo.eval.deleteResults',
  openAblation: 'mnemo.eval.openAblation',
  markCorrect: 'mnemo.eval.markCorrect',
  markWrong: 'mnemo.eval.markWrong',
  clearVerdict: 'mnemo.eval.clearVerdict',
  checkForgetting: 'mnemo.eval.checkForgetting',
} as const;
