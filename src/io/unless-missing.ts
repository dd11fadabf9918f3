/** Runs a file operation; false when the file is not there (ENOENT), true when it succeeded. */
export async function unlessMissing(operation: Promise<unknown>): Promise<boolean> {
  try {
    await operation;
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
