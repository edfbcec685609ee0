import { errnoName } from './errno.js';

/** A request the kernel refused: errno, its name, the operation, and the
 * kernel's extended-ack message when it sent one. */
export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly operation: string;
  readonly kernelMessage: string | null;
  readonly attributeOffset: number | null;

  constructor(errno: number, operation: string, kernelMessage: string | null = null, attributeOffset: number | null = null) {
    const code = errnoName(errno);
    super(`${operation}: ${code}${kernelMessage ? ` (${kernelMessage})` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = code;
    this.operation = operation;
    this.kernelMessage = kernelMessage;
    this.attributeOffset = attributeOffset;
  }
}

export class NetlinkTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(operation: string, ms: number) {
    super(`${operation}: no answer from the kernel within ${ms} ms`);
    this.name = 'NetlinkTimeoutError';
  }
}
