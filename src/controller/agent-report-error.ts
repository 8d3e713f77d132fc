import { NuboError } from '../errors/nubo-error.js';

/**
 * The agent carried out a step and answered, but the VM is not in the state
 * the step leads to (a guest that did not power off, a start that ended
 * crashed). It is the agent's verdict, so the step fails rather than retries.
 */
export class AgentReportError extends NuboError {
  readonly code = 'AGENT_REPORT_UNEXPECTED';
  constructor(readonly expected: string, readonly reported: string, message: string) {
    super(message, { expected, reported });
  }
}
