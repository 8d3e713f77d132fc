/** Where the OCCI interface is mounted on the controller's listener; the renderers' locations are relative to it. */
export const OCCI_PREFIX = '/occi/1.2';
