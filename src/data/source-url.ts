// Where the data sets come from (a leaf module, so that the settings can name it without loading the reader).

/** The reference project's public repository (Apache-2.0), where the released splits live. */
export const GTALIGN_REPOSITORY = 'https://github.com/ulab-uiuc/GTAlign';

/**
 * Files are fetched from `${baseUrl}/${repoPath}`. github.com's `/raw/<ref>/` answers with a redirect to
 * the file's content (also for files kept in Git LFS, where raw.githubusercontent.com would serve the
 * pointer), so it is the default.
 */
export const DEFAULT_BASE_URL = `${GTALIGN_REPOSITORY}/raw/main`;
