/** The VM actions the API takes (`POST /vms/{id}/actions/{action}`), with how the dashboard offers them. */
export interface VmActionInfo {
  readonly action: string;
  readonly label: string;
  /** Destroys data or a running guest's state: asks first. */
  readonly destructive: boolean;
  /** Refused for plain users by the API (still refused if someone sends it). */
  readonly adminOnly?: boolean;
}

export const VM_ACTIONS: readonly VmActionInfo[] = [
  { action: 'start', label: 'Start', destructive: false },
  { action: 'resume', label: 'Resume', destructive: false },
  { action: 'reboot', label: 'Reboot', destructive: false },
  { action: 'suspend', label: 'Suspend', destructive: false },
  { action: 'poweroff', label: 'Power off', destructive: false },
  { action: 'stop', label: 'Stop', destructive: false },
  { action: 'reboot-hard', label: 'Reset', destructive: true },
  { action: 'poweroff-hard', label: 'Power off (hard)', destructive: true },
  { action: 'recover', label: 'Recover', destructive: false },
  { action: 'terminate', label: 'Terminate', destructive: true },
  { action: 'terminate-hard', label: 'Terminate (hard)', destructive: true },
];

export const actionInfo = (action: string): VmActionInfo | undefined => VM_ACTIONS.find((a) => a.action === action);
