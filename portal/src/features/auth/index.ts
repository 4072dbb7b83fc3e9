// Public API of the auth feature.
export { useSession, useSignIn, useSignOut } from "./api";
export { SignInPage, safeNext } from "./components/SignInPage";
