import { createContext, useContext } from 'react';
import type { WebSessionT } from '../../../src/api/schemas.js';
import { ApiError, call, setCsrfToken } from './api.js';

export type Session = WebSessionT;

/** The session the daemon's cookie holds, or undefined when signed out. */
export async function currentSession(): Promise<Session | undefined> {
  try {
    return adopt(await call('getSession'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return undefined;
    throw e;
  }
}

export async function signIn(token: string): Promise<Session> {
  return adopt(await call('createSession', { body: { token } }));
}

export async function signOut(): Promise<void> {
  await call('deleteSession');
  setCsrfToken('');
}

function adopt(s: Session): Session {
  setCsrfToken(s.csrfToken);
  return s;
}

export const SessionContext = createContext<Session | undefined>(undefined);
export const useSession = (): Session => {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
};
