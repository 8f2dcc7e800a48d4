// Entry point loaded by VS Code's extension host (extensionTestsPath); the harness fills this in.
export function run(): Promise<void> {
  return Promise.resolve();
}
