import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { AppError, ERROR_CODES, type ErrorCode } from '../../src/errors/index.js';
import { findProjectRoot } from '../../src/paths.js';

describe('error registry', () => {
  it('documents every code with its status in the README, and nothing else', () => {
    const readme = fs.readFileSync(path.join(findProjectRoot(), 'README.md'), 'utf8');
    const documented = new Map<string, number>();
    for (const match of readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) {
      documented.set(match[1]!, Number(match[2]));
    }
    const registry = new Map(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]));
    expect(Object.fromEntries(documented)).to.deep.equal(Object.fromEntries(registry));
  });

  it('gives every AppError the status of its code and keeps the cause out of the message', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const cause = new Error('driver said: password=hunter2');
      const err = new AppError(code, 'something a person can act on', { cause });
      expect(err.status).to.equal(ERROR_CODES[code].status);
      expect(err.code).to.equal(code);
      expect(err.message).not.to.contain('hunter2');
      expect(err.cause).to.equal(cause);
    }
  });
});
