// The .qa language server (issue 4) starts here.
export {};
