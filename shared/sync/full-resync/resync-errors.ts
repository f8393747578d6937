/** Typed errors of the full resync (planner, worker, operator actions). Each keeps its `cause`. */

/** A second full resync was requested while one runs for the shop (the API answers 409 with its id). */
export class JobAlreadyRunningError extends Error {
  constructor(
    readonly shopId: string,
    readonly runningJobId: string,
    options?: { cause?: unknown },
  ) {
    super(`a full resync (job ${runningJobId}) is already running for shop ${shopId}`, options);
    this.name = "JobAlreadyRunningError";
  }
}

export class JobNotFoundError extends Error {
  constructor(
    readonly shopId: string,
    readonly jobId: string | undefined,
  ) {
    super(jobId ? `job ${jobId} of shop ${shopId} does not exist` : `shop ${shopId} has no full-resync job`);
    this.name = "JobNotFoundError";
  }
}

/** The job is in a state that does not allow the action (e.g. resuming a COMPLETED job). */
export class JobStateError extends Error {
  constructor(
    readonly jobId: string,
    readonly status: string,
    action: string,
  ) {
    super(`cannot ${action} job ${jobId}: it is ${status}`);
    this.name = "JobStateError";
  }
}

/** An SQS body that is not a work message: retrying cannot help, it is left to reach the DLQ. */
export class InvalidWorkMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidWorkMessageError";
  }
}

/** Probing or writing the plan failed; the job was marked FAILED and the shop's slot released. */
export class FullResyncPlanningError extends Error {
  constructor(
    readonly shopId: string,
    readonly jobId: string,
    options?: { cause?: unknown },
  ) {
    super(`planning full resync job ${jobId} of shop ${shopId} failed`, options);
    this.name = "FullResyncPlanningError";
  }
}

/** Some work messages could not be sent; the reconciler re-enqueues their windows later. */
export class EnqueueError extends Error {
  constructor(
    readonly failed: number,
    options?: { cause?: unknown },
  ) {
    super(`${failed} work message(s) could not be sent to SQS`, options);
    this.name = "EnqueueError";
  }
}

/** The requested range is empty once clipped to [history start, now − settle), or segments overlap. */
export class InvalidRangeError extends Error {
  constructor(
    readonly from: number,
    readonly to: number,
    problem = "is empty once clipped to settled history",
  ) {
    super(`the range [${from}, ${to}) ${problem}`);
    this.name = "InvalidRangeError";
  }
}
