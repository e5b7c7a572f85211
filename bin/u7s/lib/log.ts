/** Progress lines on stderr (the journal, for units), prefixed with the program's name. */
export function logger(program: string) {
  return (message: string) => process.stderr.write(`${program}: ${message}\n`);
}

/** With U7S_DEBUG=1 an unexpected error's stack goes to stderr before the one-line message. */
export function debugged<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (error) {
      if (process.env.U7S_DEBUG === '1' && error instanceof Error && !(error as { expected?: boolean }).expected) process.stderr.write(`${error.stack}\n`);
      throw error;
    }
  };
}
