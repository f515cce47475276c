// jest runs each file in a vm context, whose Symbol lacks the Symbol.dispose
// Node's main realm has; give it the same registered symbol so `using` works.
(Symbol as { dispose?: symbol }).dispose ??= Symbol.for('nodejs.dispose');
