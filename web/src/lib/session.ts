import { createContext, useContext } from 'react';
import type { ReplyOf } from '../../../src/api/routes.js';
import { ApiError, request, setCsrfToken } from './api.js';
import { SESSION_URL } from './routes.js';

export type WhoAmI = ReplyOf<'whoami'>;
export interface Session {
  user: WhoAmI;
  csrfToken: string;
}

/** The session the daemon's cookie holds, or undefined when signed out. */
export async function currentSession(): Promise<Session | undefined> {
  try {
    const res = await request('GET', SESSION_URL);
    return adopt((await res.json()) as Session);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return undefined;
    throw e;
  }
}

export async function signIn(token: string): Promise<Session> {
  const res = await request('POST', SESSION_URL, { json: { token } });
  return adopt((await res.json()) as Session);
}

export async function signOut(): Promise<void> {
  await request('DELETE', SESSION_URL);
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
