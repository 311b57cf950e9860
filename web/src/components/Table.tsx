import type { ReactNode } from 'react';

/** A table with a caption and column headings, scrolling sideways on a narrow screen. */
export function Table({ caption, columns, children }: { caption: ReactNode; columns: string[]; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
