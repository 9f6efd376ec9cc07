/**
 * How a benchmark runs: `main`, then `cleanup` whatever happened (also on Ctrl-C), and an exit code that says which.
 */
export function runBench(main: () => Promise<void>, cleanup: () => void): void {
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  main().then(cleanup, (err: Error) => {
    cleanup();
    console.error(err.message);
    process.exit(1);
  });
}
