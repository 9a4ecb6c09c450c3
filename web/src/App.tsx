import { useEffect, useState } from "react";
import { Api, type User } from "./api";
import { AuthScreen } from "./AuthScreen";
import { ChatApp } from "./ChatApp";

const api = new Api();

export function App() {
  const [user, setUser] = useState<User | null>(api.user);
  useEffect(() => api.onUser(setUser), []);
  return user ? <ChatApp key={user.id} api={api} me={user} /> : <AuthScreen api={api} />;
}
